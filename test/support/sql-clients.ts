import { randomUUID } from 'node:crypto';
import pg from 'pg';

/** Plain `pg` clients a test opens on a store's database (as the role its URL names), ended together. */
export class TestClients {
  readonly #clients: pg.Client[] = [];

  async connect(url: string | undefined): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    this.#clients.push(client);
    return client;
  }

  async endAll(): Promise<void> {
    await Promise.all(this.#clients.splice(0).map((client) => client.end().catch(() => undefined)));
  }
}

/** Appends one event of `type` to a new stream with append_events on `client` (in its transaction, if one is open); returns its event id. */
export async function appendOn(client: pg.Client, schema: string, type: string): Promise<string> {
  const { rows } = await client.query<{ event_id: string }>(`select event_id from ${schema}.append_events($1::uuid, $2::jsonb)`, [
    randomUUID(),
    JSON.stringify([{ type, body: {} }]),
  ]);
  return rows[0]!.event_id;
}
