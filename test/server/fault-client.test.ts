import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, type EventStore, type NewEvent } from '../../src/index.js';
import { countEvents, rejectionOf } from '../contract/fixtures.js';
import { server, type TestStore } from '../support/engines.js';
import { GATED_PROJECTION_SQL } from '../support/gated-projection.js';
import { checkReadModel, COUNTED_TYPES, defineCountingProjection, waitFor } from '../support/race-helpers.js';

const repoRoot = new URL('../../', import.meta.url).pathname;

/**
 * Client faults on the shared server: only this file's own backends are terminated (by pid, found
 * through their application_name), never the server.
 */
describe.skipIf(server.unavailable !== null)('faults: clients that die, lost answers, killed replays (server)', { timeout: 120_000 }, () => {
  let t: TestStore;
  let store: EventStore;
  let admin: pg.Client;

  beforeAll(async () => {
    t = await server.createStore();
    store = t.store;
    await defineCountingProjection(store);
    await store.execScript(GATED_PROJECTION_SQL);
    await store.defineProjection({ name: 'gated', handlers: { gated: 'public.gated_row' }, tables: ['public.gated_rows'] });
    admin = new pg.Client({ connectionString: t.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await t?.dispose();
  });

  /** A client of its own whose backend can be found (and terminated) by application_name. */
  async function namedClient(): Promise<{ client: pg.Client; name: string }> {
    const name = `pgevents_fault_${randomUUID().slice(0, 8)}`;
    const client = new pg.Client({ connectionString: t.url, application_name: name });
    client.on('error', () => undefined);
    await client.connect();
    return { client, name };
  }

  async function backendPid(name: string): Promise<number | undefined> {
    const { rows } = await admin.query<{ pid: number }>(`select pid from pg_stat_activity where application_name = $1`, [name]);
    return rows[0]?.pid;
  }

  function waitUntilGone(name: string): Promise<boolean> {
    return waitFor(`backend ${name} to end`, async () => (await backendPid(name)) === undefined);
  }

  async function streamVersion(stream: string): Promise<number | null> {
    const [row] = await store.query<{ version: number }>(`select version::int from pgevents.streams where stream = $1`, [stream]);
    return row?.version ?? null;
  }

  async function storedIds(ids: string[]): Promise<number> {
    const [row] = await store.query<{ n: number }>(`select count(*)::int as n from pgevents.events where event_id = any($1::uuid[])`, [ids]);
    return row!.n;
  }

  function batchOf(size: number, tag: string): (NewEvent & { id: string })[] {
    return Array.from({ length: size }, (_, n) => ({ id: randomUUID(), type: COUNTED_TYPES[n % 2]!, body: { tag, n } }));
  }

  async function readModelIsConsistent(): Promise<void> {
    const check = await checkReadModel(store);
    expect(check.counts).toEqual(check.expected);
    expect(check.strayPositions).toEqual([]);
    expect(check.missingPositions).toEqual([]);
  }

  describe('a client that dies inside an open transaction', () => {
    it('leaves no trace and consumes no version when its process is killed', async () => {
      const existing = randomUUID();
      await store.append(existing, batchOf(2, 'before'));
      const fresh = randomUUID();
      const batch = batchOf(3, 'killed');
      const name = `pgevents_fault_${randomUUID().slice(0, 8)}`;
      // The child appends through append_events and a plain INSERT in one transaction, says so, and hangs.
      const child = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import pg from 'pg';
           const client = new pg.Client({ connectionString: process.env.URL, application_name: process.env.NAME });
           await client.connect();
           await client.query('begin');
           await client.query('select * from pgevents.append_events($1, $2, $3)', [process.env.EXISTING, process.env.BATCH, '2']);
           await client.query("insert into pgevents.events (type, uuid, body) values ('counted_a', $1, '{}')", [process.env.FRESH]);
           process.stdout.write('appended\\n');
           await new Promise(() => {});`,
        ],
        { cwd: repoRoot, env: { ...process.env, URL: t.url, NAME: name, EXISTING: existing, FRESH: fresh, BATCH: JSON.stringify(batch) } },
      );
      const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
      expect(chunk.toString()).toBe('appended\n');
      child.kill('SIGKILL');
      await once(child, 'exit');
      await waitUntilGone(name);

      expect(await storedIds(batch.map((event) => event.id))).toBe(0);
      expect(await streamVersion(existing)).toBe(2);
      expect(await streamVersion(fresh)).toBeNull();
      expect((await store.append(existing, batchOf(1, 'after'), { expectedVersion: 2 })).nextVersion).toBe(3);
      expect((await store.append(fresh, batchOf(1, 'after'), { expectedVersion: 'no_stream' })).nextVersion).toBe(1);
      await readModelIsConsistent();
    });

    it('leaves no trace and consumes no version when its connection is terminated', async () => {
      const stream = randomUUID();
      await store.append(stream, batchOf(1, 'before'));
      const { client, name } = await namedClient();
      const batch = batchOf(2, 'terminated');
      await client.query('begin');
      await client.query('select * from pgevents.append_events($1, $2, $3)', [stream, JSON.stringify(batch), '1']);
      await admin.query('select pg_terminate_backend($1)', [await backendPid(name)]);
      expect(await rejectionOf(client.query('commit'))).toBeInstanceOf(Error);
      await waitUntilGone(name);

      expect(await storedIds(batch.map((event) => event.id))).toBe(0);
      expect(await streamVersion(stream)).toBe(1);
      expect((await store.append(stream, batchOf(1, 'after'), { expectedVersion: 1 })).nextVersion).toBe(2);
      await readModelIsConsistent();
    });
  });

  describe('a retry after the answer to an append was lost', () => {
    it('returns the stored versions and stores nothing again when the append had committed', async () => {
      const stream = randomUUID();
      const { client, name } = await namedClient();
      const batch = batchOf(3, 'committed');
      const { rows } = await client.query<{ version: string; position: string }>(
        `select version, "position" from pgevents.append_events($1, $2, 'no_stream')`,
        [stream, JSON.stringify(batch)],
      );
      // The answer "arrived", but the client is told the connection broke: it cannot know, so it retries.
      await admin.query('select pg_terminate_backend($1)', [await backendPid(name)]);
      await waitUntilGone(name);
      const before = await countEvents(store);
      const retry = await store.append(stream, batch, { expectedVersion: 'no_stream' });
      expect(retry.events.map((event) => [event.version, event.position])).toEqual(
        rows.map((row) => [Number(row.version), Number(row.position)]),
      );
      expect(await countEvents(store)).toBe(before);
      expect(await storedIds(batch.map((event) => event.id))).toBe(3);
    });

    it('stores the batch once when the append had not committed', async () => {
      const stream = randomUUID();
      const { client, name } = await namedClient();
      const batch = batchOf(3, 'uncommitted');
      await client.query('begin');
      await client.query(`select * from pgevents.append_events($1, $2, 'no_stream')`, [stream, JSON.stringify(batch)]);
      await admin.query('select pg_terminate_backend($1)', [await backendPid(name)]);
      await waitUntilGone(name);
      const retry = await store.append(stream, batch, { expectedVersion: 'no_stream' });
      expect(retry.events.map((event) => event.version)).toEqual([1, 2, 3]);
      expect(await storedIds(batch.map((event) => event.id))).toBe(3);
    });

    it('stores every event once when connections drop right after the append was sent, then the batch is sent again', async () => {
      const stream = randomUUID();
      let version = 0;
      const sent: string[] = [];
      for (let round = 0; round < 20; round += 1) {
        const batch = batchOf(1 + (round % 3), `round-${round}`);
        sent.push(...batch.map((event) => event.id));
        const { client } = await namedClient();
        const attempt = client.query(`select * from pgevents.append_events($1, $2, $3)`, [stream, JSON.stringify(batch), String(version)]);
        attempt.catch(() => undefined);
        // Cut the connection at a different moment each round: before, while or after the server commits.
        await new Promise((resolve) => setTimeout(resolve, round % 4));
        (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
        const retry = await store.append(stream, batch, { expectedVersion: version });
        expect(retry.events.map((event) => event.version)).toEqual(batch.map((_, n) => version + n + 1));
        version = retry.nextVersion;
      }
      const stored = await store.query<{ event_id: string; version: number }>(
        `select event_id::text, version::int from pgevents.events where uuid = $1 order by version`,
        [stream],
      );
      expect(stored.map((row) => row.event_id)).toEqual(sent);
      expect(stored.map((row) => row.version)).toEqual(sent.map((_, n) => n + 1));
      expect(await rejectionOf(store.append(stream, batchOf(1, 'stale'), { expectedVersion: version - 1 }))).toBeInstanceOf(
        ConcurrencyError,
      );
      await readModelIsConsistent();
    });
  });

  it("leaves the read model as it was when a replay's backend is terminated midway", async () => {
    const stream = randomUUID();
    await store.append(
      stream,
      Array.from({ length: 60 }, (_, n) => ({ type: 'gated', body: { n, gate: n === 30 } })),
    );
    const rowsOf = () => store.query(`select position::text, uuid::text from public.gated_rows order by position`);
    const before = await rowsOf();
    expect(before).toHaveLength(60);
    const [{ last_replayed_at: replayedBefore }] = (await store.query(
      `select last_replayed_at from pgevents.projections where name = 'gated'`,
    )) as [{ last_replayed_at: unknown }];

    await admin.query('select pg_advisory_lock(4242, 1)');
    try {
      const replay = store.replay('gated', { batchSize: 10 });
      replay.catch(() => undefined);
      // It has emptied the table and applied 30 events in its transaction, and waits at the gate.
      const pid = await waitFor('the replay to wait at the gate', async () => {
        const { rows } = await admin.query<{ pid: number }>(
          `select pid from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'advisory'`,
        );
        return rows[0]?.pid;
      });
      await admin.query('select pg_terminate_backend($1)', [pid]);
      expect(await rejectionOf(replay)).toBeInstanceOf(Error);
    } finally {
      await admin.query('select pg_advisory_unlock(4242, 1)');
    }
    expect(await rowsOf()).toEqual(before);
    expect(await store.query(`select last_replayed_at from pgevents.projections where name = 'gated'`)).toEqual([
      { last_replayed_at: replayedBefore },
    ]);
    await store.replay('gated');
    expect(await rowsOf()).toEqual(before);
  });
});
