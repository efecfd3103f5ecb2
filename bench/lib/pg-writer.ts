/** Writers over one node-postgres connection, with prepared statements. */
import pg from 'pg';
import { ignoreIdleErrors, valuesPlaceholders } from './db.js';
import { SCHEMA } from './pgevents-server.js';
import type { Batch, Writer } from './types.js';

export async function connect(url: string, init?: string): Promise<pg.Client> {
  const client = ignoreIdleErrors(new pg.Client({ connectionString: url }));
  await client.connect();
  if (init) await client.query(init);
  return client;
}

/**
 * `insert into <table> (uuid, type, body) values (…), (…)`: one statement, one transaction per
 * batch, prepared once per batch size.
 */
export class InsertWriter implements Writer {
  constructor(
    private readonly client: pg.Client,
    private readonly table: string,
  ) {}

  async append(batch: Batch): Promise<void> {
    const n = batch.events.length;
    const values: unknown[] = [];
    for (const e of batch.events) values.push(batch.stream, e.type, JSON.stringify(e.body));
    await this.client.query({
      name: `insert_${n}`,
      text: `insert into ${this.table} (uuid, type, body) values ${valuesPlaceholders(n, 3)}`,
      values,
    });
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

/** `select … from pgevents.append_events(stream, events, 'any')`: one call, one transaction per batch. */
export class AppendEventsWriter implements Writer {
  constructor(private readonly client: pg.Client) {}

  async append(batch: Batch): Promise<void> {
    await this.client.query({
      name: 'append_events',
      text: `select count(*) from ${SCHEMA}.append_events($1::uuid, $2::jsonb, 'any')`,
      values: [batch.stream, JSON.stringify(batch.events)],
    });
  }

  close(): Promise<void> {
    return this.client.end();
  }
}
