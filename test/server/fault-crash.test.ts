import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, type EventStore, openEventStore } from '../../src/index.js';
import { rejectionOf } from '../contract/fixtures.js';
import { GATED_PROJECTION_SQL } from '../support/gated-projection.js';
import { checkReadModel, COUNTED_TYPES, defineCountingProjection, waitFor } from '../support/race-helpers.js';
import {
  createClusterDatabase,
  startThrowawayCluster,
  type ThrowawayCluster,
  throwawayClusterUnavailable,
} from '../support/throwaway-cluster.js';

const WRITERS = 6;
const STREAMS_PER_WRITER = 5;
/** Acknowledged events to wait for before the server is killed, with writers still running. */
const EVENTS_BEFORE_KILL = 300;

interface Acknowledged {
  eventId: string;
  stream: string;
  version: number;
  position: number;
}

/** The events of the store's log, checked as a whole: gapless streams, stream versions that match. */
async function logProblems(store: EventStore): Promise<{ gappyStreams: string[]; streamRowsOff: string[] }> {
  const gappy = await store.query<{ uuid: string }>(
    `select uuid::text from pgevents.events group by uuid
      having min(version) <> 1 or max(version) <> count(*) or count(distinct version) <> count(*)`,
  );
  const off = await store.query<{ stream: string }>(
    `select s.stream::text from pgevents.streams s
       left join (select uuid, max(version) as version from pgevents.events group by uuid) e on e.uuid = s.stream
      where coalesce(e.version, 0) <> s.version`,
  );
  return { gappyStreams: gappy.map((row) => row.uuid), streamRowsOff: off.map((row) => row.stream) };
}

async function readModelRows(store: EventStore) {
  return {
    counts: await store.query(`select uuid::text, n from public.stream_counts order by uuid`),
    seen: await store.query(`select position::text, uuid::text, version::int from public.events_seen order by position`),
  };
}


// Crash recovery and replays on a loaded machine take longer than the default 60 s allows for.
describe.skipIf(throwawayClusterUnavailable() !== null)('faults: kill -9 of the server (throwaway cluster)', { timeout: 180_000 }, () => {
  let cluster: ThrowawayCluster;
  let url: string;
  let store: EventStore;

  beforeAll(async () => {
    cluster = await startThrowawayCluster();
    url = await createClusterDatabase(cluster, 'crash');
    store = await openEventStore({ url, migrate: true, poolSize: WRITERS + 2 });
    await defineCountingProjection(store);
    await store.execScript(GATED_PROJECTION_SQL);
    await store.defineProjection({ name: 'gated', handlers: { gated: 'public.gated_row' }, tables: ['public.gated_rows'] });
  });
  afterAll(async () => {
    await store?.close().catch(() => undefined);
    await cluster?.destroy();
  });

  /** kill -9, start again (crash recovery), and a fresh store: the old pool's connections are dead. */
  async function crashAndRestart(): Promise<void> {
    await cluster.killHard();
    await store.close().catch(() => undefined);
    await cluster.start();
    store = await openEventStore({ url, poolSize: WRITERS + 2 });
  }

  it('runs with the default synchronous_commit = on and fsync = on', async () => {
    const [settings] = await store.query(`select current_setting('synchronous_commit') as sc, current_setting('fsync') as fsync`);
    expect(settings).toEqual({ sc: 'on', fsync: 'on' });
  });

  it('keeps every acknowledged append through kill -9, and the read model agrees with the events after restart', async () => {
    const acknowledged: Acknowledged[] = [];
    /** Batches sent whose outcome the writer never learned: each must be stored whole or not at all. */
    const unknown: string[][] = [];
    let stop = false;

    async function write(writer: number): Promise<void> {
      const streams = Array.from({ length: STREAMS_PER_WRITER }, () => ({ id: randomUUID(), version: 0 }));
      for (let n = 0; !stop; n += 1) {
        const stream = streams[n % STREAMS_PER_WRITER]!;
        const size = 1 + (n % 3);
        const batch = Array.from({ length: size }, (_, k) => ({
          id: randomUUID(),
          type: k === 2 ? 'not_counted' : COUNTED_TYPES[(n + k) % 2]!,
          body: { writer, n, k },
        }));
        try {
          const result = await store.append(stream.id, batch, { expectedVersion: stream.version });
          stream.version = result.nextVersion;
          for (const event of result.events) acknowledged.push({ ...event, stream: stream.id });
        } catch {
          unknown.push(batch.map((event) => event.id));
          return;
        }
      }
    }

    const writers = Array.from({ length: WRITERS }, (_, writer) => write(writer));
    await waitFor(`${EVENTS_BEFORE_KILL} acknowledged events`, async () => acknowledged.length >= EVENTS_BEFORE_KILL, 120_000);
    const acknowledgedAtKill = acknowledged.length;
    await cluster.killHard();
    stop = true;
    await Promise.all(writers);
    // Every writer was cut off in the middle of an append: none of them stopped on its own.
    expect(unknown).toHaveLength(WRITERS);
    expect(acknowledged.length).toBeGreaterThanOrEqual(acknowledgedAtKill);

    await store.close().catch(() => undefined);
    await cluster.start();
    store = await openEventStore({ url, poolSize: 4 });
    expect(readFileSync(join(cluster.dir, 'server.log'), 'utf8')).toMatch(/not properly shut down|interrupted/);

    const stored = await store.query<{ event_id: string; uuid: string; version: number; position: string }>(
      `select event_id::text, uuid::text, version::int, id::text as position from pgevents.events where event_id = any($1::uuid[])`,
      [acknowledged.map((event) => event.eventId)],
    );
    const byId = new Map(stored.map((row) => [row.event_id, row]));
    const lost = acknowledged.filter((event) => {
      const row = byId.get(event.eventId);
      return !row || row.uuid !== event.stream || row.version !== event.version || Number(row.position) !== event.position;
    });
    expect(lost).toEqual([]);

    for (const ids of unknown) {
      const [row] = await store.query<{ n: number }>(`select count(*)::int as n from pgevents.events where event_id = any($1::uuid[])`, [ids]);
      expect([0, ids.length]).toContain(row!.n);
    }
    expect(await logProblems(store)).toEqual({ gappyStreams: [], streamRowsOff: [] });

    const check = await checkReadModel(store);
    expect(check.counts).toEqual(check.expected);
    expect(check.strayPositions).toEqual([]);
    expect(check.missingPositions).toEqual([]);

    // A fresh replay rebuilds exactly the read model that the triggers left behind.
    const before = await readModelRows(store);
    await store.replay('counting');
    expect(await readModelRows(store)).toEqual(before);

    // The store goes on where it stopped: the next append of a stream takes its next version.
    const [last] = acknowledged.slice(-1);
    const [current] = await store.query<{ version: number }>(`select version::int from pgevents.streams where stream = $1`, [last!.stream]);
    const next = await store.append(last!.stream, [{ type: COUNTED_TYPES[0]!, body: {} }], { expectedVersion: current!.version });
    expect(next.nextVersion).toBe(current!.version + 1);
    expect(await rejectionOf(store.append(last!.stream, [{ type: COUNTED_TYPES[0]!, body: {} }], { expectedVersion: current!.version }))).toBeInstanceOf(
      ConcurrencyError,
    );
  });

  it('leaves the read model as it was when the server is killed in the middle of a replay', async () => {
    const stream = randomUUID();
    const events = Array.from({ length: 60 }, (_, n) => ({ type: 'gated', body: { n, gate: n === 30 } }));
    await store.append(stream, events);
    const rowsOf = () => store.query(`select position::text, uuid::text from public.gated_rows order by position`);
    const before = await rowsOf();
    expect(before).toHaveLength(60);

    const gate = new pg.Client({ connectionString: url });
    gate.on('error', () => undefined);
    await gate.connect();
    await gate.query('select pg_advisory_lock(4242, 1)');
    const replay = store.replay('gated', { batchSize: 10 });
    replay.catch(() => undefined);
    // The replay has emptied the table and applied 30 events in its transaction, and now waits at the gate.
    await waitFor('the replay to wait at the gate', async () => {
      const [row] = await store.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'advisory'`,
      );
      return row!.n === 1;
    });
    await crashAndRestart();
    expect(await rejectionOf(replay)).toBeInstanceOf(Error);

    expect(await rowsOf()).toEqual(before);
    const [projection] = await store.query(`select last_replayed_at from pgevents.projections where name = 'gated'`);
    expect(projection).toEqual({ last_replayed_at: null });
    await store.replay('gated');
    expect(await rowsOf()).toEqual(before);
  });
});
