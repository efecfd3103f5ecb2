import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, openEventStore, type RebuildProgress, SwapTimeoutError } from '../../src/index.js';
import { rejectionOf } from '../contract/fixtures.js';
import { server, type TestStore } from '../support/engines.js';
import { waitFor } from '../support/race-helpers.js';
import { closeTallyGate, loadTallies, TALLY_CONSISTENCY_SQL, talliesOff, tallyRows } from '../support/rebuild-helpers.js';
import {
  createClusterDatabase,
  startThrowawayCluster,
  type ThrowawayCluster,
  throwawayClusterUnavailable,
} from '../support/throwaway-cluster.js';

const STREAMS = 2_000;
const PER_STREAM = 20;
/**
 * Where the gated event lies: three quarters into the load. A rebuild stops there, in its first
 * round, with every batch before it committed, for as long as the test holds the gate: it is
 * terminated (or the server killed) past half of it, however fast or slow the machine is.
 */
const GATE_AT = 0.75;

async function progressOf(store: EventStore): Promise<RebuildProgress | undefined> {
  return (await store.rebuildProgress('tally'))[0];
}

/**
 * Starts a rebuild and builds it until only the swap is left, so that the transactions the tests
 * hold open against the swap stay short (a long writing transaction would hold back every
 * gap-safe reader of the server).
 */
async function readyToSwap(store: EventStore): Promise<void> {
  await store.query(`select * from pgevents.rebuild_start('tally')`);
  let phase = '';
  while (phase !== 'swapping') {
    const [row] = await store.query<{ phase: string }>(`select phase from pgevents.rebuild_step('tally', 5000)`);
    phase = row!.phase;
  }
}

/** A client in an open transaction. */
async function openTransaction(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('begin');
  return client;
}

describe.skipIf(server.unavailable !== null)('interrupted rebuilds (server)', { timeout: 180_000 }, () => {
  let t: TestStore;
  let live: Awaited<ReturnType<typeof tallyRows>>;

  beforeAll(async () => {
    t = await server.createStore();
    await loadTallies(t.store, { streams: STREAMS, perStream: PER_STREAM, gateAt: GATE_AT });
    live = await tallyRows(t.store);
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('leaves the live tables as they were when its backend is terminated halfway, and a rerun completes it', async () => {
    const rebuilder = await openEventStore({ url: t.url!, poolSize: 1 });
    const gate = await closeTallyGate(t.url!);
    try {
      const [{ pid }] = (await rebuilder.query<{ pid: number }>('select pg_backend_pid() as pid')) as [{ pid: number }];
      const running = rebuilder.rebuild('tally', { batchSize: 500 }).then(
        () => new Error('the rebuild finished before it was terminated'),
        (error: unknown) => error,
      );
      // The rebuild waits at the gated event, in the middle of a batch's statement.
      expect(await gate.waiter()).toBe(pid);
      const half = (await progressOf(t.store))!;
      expect(half).toMatchObject({ phase: 'building', total: STREAMS * PER_STREAM });
      expect(half.applied).toBeGreaterThanOrEqual(STREAMS * PER_STREAM / 2);
      await t.store.query('select pg_terminate_backend($1)', [pid]);
      // 57P01: it was terminated mid-statement.
      expect(await running).toBeInstanceOf(Error);
      await gate.open();

      expect(await tallyRows(t.store)).toEqual(live);
      const stopped = await progressOf(t.store);
      expect(stopped).toMatchObject({ phase: 'building', total: STREAMS * PER_STREAM });
      expect(stopped!.applied).toBeGreaterThanOrEqual(half.applied);
      expect(stopped!.applied).toBeLessThan(STREAMS * PER_STREAM);
    } finally {
      await gate.open();
      await rebuilder.close().catch(() => undefined);
    }

    const seen: RebuildProgress[] = [];
    const result = await t.store.rebuild('tally', { batchSize: 5000, onProgress: (progress) => seen.push(progress) });
    expect(seen[0]!.applied).toBeGreaterThan(0);
    expect(result.applied).toBe(STREAMS * PER_STREAM);
    expect(await tallyRows(t.store)).toEqual(live);
  });

  it('keeps the live tables readable while the swap applies the last events, and swaps once they are applied', async () => {
    const stream = live[1]!.uuid;
    await readyToSwap(t.store);
    // Appended after the last round: the swap applies it, under the projection lock, and waits at it.
    await t.store.query(`select * from pgevents.append_events($1, '[{"type": "tally_b", "body": {"gate": true}}]')`, [stream]);
    const gate = await closeTallyGate(t.url!);
    const reader = new pg.Client({ connectionString: t.url! });
    reader.on('error', () => undefined);
    await reader.connect();
    try {
      const swapping = t.store.rebuild('tally');
      await gate.waiter();
      expect((await progressOf(t.store))!.phase).toBe('swapping');
      // The swap cannot go on while the gate is closed: a read that waited for it would wait until
      // the lock timeout (a safety net) and fail. It is answered at once, complete.
      await reader.query(`set lock_timeout = '20s'`);
      const { rows } = await reader.query(TALLY_CONSISTENCY_SQL);
      expect(rows[0].model_events).toBe(rows[0].events);
      expect(rows[0].model_streams).toBe(rows[0].streams);
      await gate.open();
      await swapping;
    } finally {
      await gate.open();
      await reader.end();
    }
    expect(await talliesOff(t.store)).toEqual([]);
    expect((await t.store.query<{ n: number }>('select n from public.tallies where uuid = $1', [stream]))[0]!.n).toBe(PER_STREAM + 1);
    live = await tallyRows(t.store);
  });

  it('changes nothing when the swap cannot get the projection lock from an open append, and swaps once it commits', async () => {
    const stream = live[0]!.uuid;
    await readyToSwap(t.store);
    const held = await openTransaction(t.url!);
    try {
      await held.query(`select * from pgevents.append_events($1, '[{"type": "tally_a", "body": {}}]')`, [stream]);
      const error = await rejectionOf(t.store.rebuild('tally', { lockTimeoutMs: 100, swapAttempts: 2 }));
      expect(error).toBeInstanceOf(SwapTimeoutError);
      expect(error).toMatchObject({ code: 'SWAP_TIMEOUT', projection: 'tally' });
      expect(await tallyRows(t.store)).toEqual(live);
      expect((await progressOf(t.store))!.phase).toBe('swapping');

      // A rebuild that keeps trying swaps as soon as the append commits, and includes it.
      const running = t.store.rebuild('tally', { lockTimeoutMs: 100, swapAttempts: 50 });
      await waitFor('the swap to wait for the projection lock', async () => {
        const [row] = await t.store.query<{ waiting: number }>(
          `select count(*)::int as waiting from pg_locks where locktype = 'advisory' and not granted and database =
             (select oid from pg_database where datname = current_database())`,
        );
        return (row?.waiting ?? 0) > 0;
      });
      await held.query('commit');
      const result = await running;
      expect(result.swapAttempts).toBeGreaterThanOrEqual(1);
    } finally {
      await held.end();
    }
    expect(await talliesOff(t.store)).toEqual([]);
    expect((await t.store.query<{ n: number }>('select n from public.tallies where uuid = $1', [stream]))[0]!.n).toBe(PER_STREAM + 1);
    live = await tallyRows(t.store);
  });

  it('gives up the swap rather than queue readers behind a long reading transaction, and swaps once it ends', async () => {
    await readyToSwap(t.store);
    const reading = await openTransaction(t.url!);
    const other = new pg.Client({ connectionString: t.url! });
    other.on('error', () => undefined);
    await other.connect();
    try {
      await reading.query('select count(*) from public.tallies');
      // A safety net, not a measure: a swap that queued readers behind the long reading
      // transaction would hold them until it ends, which is only after the attempt gave up.
      await other.query(`set lock_timeout = '20s'`);
      const attempt = rejectionOf(t.store.rebuild('tally', { lockTimeoutMs: 200, swapAttempts: 3 }));
      // While the swap keeps trying, other readers are held up for at most one lock wait.
      await waitFor('the swap to wait for the table lock', async () => {
        const [row] = await t.store.query<{ waiting: number }>(
          `select count(*)::int as waiting from pg_locks where relation = 'public.tallies'::regclass and not granted`,
        );
        return (row?.waiting ?? 0) > 0;
      });
      const { rows } = await other.query(TALLY_CONSISTENCY_SQL);
      expect(rows[0].model_events).toBe(rows[0].events);
      expect(await attempt).toBeInstanceOf(SwapTimeoutError);
      expect(await tallyRows(t.store)).toEqual(live);
    } finally {
      await reading.query('commit');
      await reading.end();
      await other.end();
    }
    await t.store.rebuild('tally');
    expect(await tallyRows(t.store)).toEqual(live);
  });
});

describe.skipIf(throwawayClusterUnavailable() !== null)('a rebuild interrupted by a server crash (throwaway cluster)', { timeout: 180_000 }, () => {
  let cluster: ThrowawayCluster;
  let url: string;
  let store: EventStore;

  beforeAll(async () => {
    cluster = await startThrowawayCluster();
    url = await createClusterDatabase(cluster, 'rebuild');
    store = await openEventStore({ url, migrate: true });
    await loadTallies(store, { streams: 1_000, perStream: PER_STREAM, gateAt: GATE_AT });
  });
  afterAll(async () => {
    await store?.close().catch(() => undefined);
    await cluster?.destroy();
  });

  it('resumes after the restart, the live tables untouched meanwhile', async () => {
    const live = await tallyRows(store);
    const gate = await closeTallyGate(url);
    const running = store.rebuild('tally', { batchSize: 250 }).then(
      () => new Error('the rebuild finished before the crash'),
      (error: unknown) => error,
    );
    await gate.waiter();
    const half = (await progressOf(store))!;
    expect(half).toMatchObject({ phase: 'building', total: 1_000 * PER_STREAM });
    expect(half.applied).toBeGreaterThanOrEqual((1_000 * PER_STREAM) / 2);
    await cluster.killHard();
    expect(await running).toBeInstanceOf(Error);
    await gate.open();
    await store.close().catch(() => undefined);

    await cluster.start();
    store = await openEventStore({ url });
    expect(await tallyRows(store)).toEqual(live);
    const stopped = await progressOf(store);
    expect(stopped).toMatchObject({ phase: 'building' });
    expect(stopped!.applied).toBeGreaterThanOrEqual(half.applied);

    const result = await store.rebuild('tally');
    expect(result.applied).toBe(1_000 * PER_STREAM);
    expect(await tallyRows(store)).toEqual(live);
    expect(await talliesOff(store)).toEqual([]);
  });
});
