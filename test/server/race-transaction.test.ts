import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, parseCursor, type StoredEvent } from '../../src/index.js';
import { server, type TestStore } from '../support/engines.js';
import {
  closeAll,
  createPool,
  defineCountingProjection,
  openStores,
  storedStream,
  waitForLockWaiters,
  withDeadline,
} from '../support/race-helpers.js';

describe.skipIf(server.unavailable !== null)('appends joined to a caller transaction (server)', () => {
  let t: TestStore;
  let other: EventStore;
  let queued: EventStore;
  let pool: pg.Pool;

  beforeAll(async () => {
    t = await server.createStore();
    await defineCountingProjection(t.store);
    [other, queued] = (await openStores(t.url!, 2, 2)) as [EventStore, EventStore];
    pool = createPool(t.url!, 4);
  });
  afterAll(async () => {
    await pool?.end();
    await closeAll([other, queued].filter(Boolean));
    await t?.dispose();
  });

  /** Runs `fn` on a dedicated connection inside BEGIN; the connection is discarded afterwards. */
  async function inTransaction(fn: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('begin');
      await fn(client);
    } finally {
      client.release(true);
    }
  }

  async function positionsVisible(store: EventStore, positions: number[]): Promise<number> {
    const [row] = await store.query<{ visible: number }>(
      'select count(*)::int as visible from pgevents.events where id = any($1::bigint[])',
      [positions],
    );
    return row?.visible ?? 0;
  }

  /** Whether the event comes after the cursor in readAll's order, (transaction id, position). */
  function isAfter(cursor: string, event: StoredEvent): boolean {
    const at = parseCursor(cursor);
    const transactionId = BigInt(event.transactionId);
    const cursorTransactionId = BigInt(at.transactionId);
    return transactionId > cursorTransactionId || (transactionId === cursorTransactionId && event.position > at.position);
  }

  it('hides an event appended in an open transaction from other connections until COMMIT', async () => {
    const stream = randomUUID();
    await inTransaction(async (client) => {
      const appended = await t.store.append(stream, [{ type: 'counted_a', body: {} }], {
        client,
        expectedVersion: 'no_stream',
      });
      const position = appended.events[0]!.position;

      expect((await t.store.readStream(stream, { client })).map((event) => event.version)).toEqual([1]);
      expect(await other.readStream(stream)).toEqual([]);
      expect(await positionsVisible(other, [position])).toBe(0);
      expect((await other.readAll()).events.map((event) => event.position)).not.toContain(position);
      expect(await other.query('select n from public.stream_counts where uuid = $1', [stream])).toEqual([]);
      const next = queued.append(stream, [{ type: 'counted_b', body: {} }]);
      await waitForLockWaiters(pool, 1);

      await client.query('commit');
      expect((await withDeadline('the append queued behind the transaction', next)).nextVersion).toBe(2);
    });
    expect((await other.readStream(stream)).map((event) => event.version)).toEqual([1, 2]);
    expect(await other.query('select n from public.stream_counts where uuid = $1', [stream])).toEqual([{ n: 2 }]);
  });

  it('leaves the stream as it was after ROLLBACK: the next append gets version 1 again and the rolled-back positions never show', async () => {
    const [fresh, existing] = [randomUUID(), randomUUID()];
    await t.store.append(existing, [{ type: 'counted_a', body: {} }]);
    let rolledBack: number[] = [];
    let next: ReturnType<EventStore['append']> | undefined;
    await inTransaction(async (client) => {
      const first = await t.store.append(
        fresh,
        [
          { type: 'counted_a', body: {} },
          { type: 'counted_b', body: {} },
        ],
        { client, expectedVersion: 'no_stream' },
      );
      const second = await t.store.append(existing, [{ type: 'counted_a', body: {} }], { client, expectedVersion: 1 });
      expect(second.nextVersion).toBe(2);
      rolledBack = [...first.events, ...second.events].map((event) => event.position);
      next = queued.append(fresh, [{ type: 'counted_a', body: {} }], { expectedVersion: 'no_stream' });
      await waitForLockWaiters(pool, 1);

      await client.query('rollback');
    });

    const afterRollback = await withDeadline('the append queued behind the rolled-back transaction', next!);
    expect(afterRollback.events.map((event) => event.version)).toEqual([1]);
    expect(afterRollback.events[0]!.position).toBeGreaterThan(Math.max(...rolledBack));
    expect((await other.append(existing, [{ type: 'counted_b', body: {} }], { expectedVersion: 1 })).nextVersion).toBe(2);
    expect(await positionsVisible(other, rolledBack)).toBe(0);
    expect((await storedStream(other, fresh)).map((row) => row.version)).toEqual([1]);
    const [stored] = await other.query<{ version: number }>(
      'select version::int as version from pgevents.streams where stream = $1',
      [fresh],
    );
    expect(stored?.version).toBe(1);
    const { events: all } = await other.readAll({ limit: 100_000 });
    expect(all.map((event) => event.position).filter((position) => rolledBack.includes(position))).toEqual([]);
    expect(await other.query('select n from public.stream_counts where uuid = $1', [fresh])).toEqual([{ n: 1 }]);
  });

  it('does not deadlock when a transaction appends again behind a queued replay and another append', async () => {
    const [mine, theirs] = [randomUUID(), randomUUID()];
    const first = await pool.connect();
    const second = await pool.connect();
    const replay = await pool.connect();
    try {
      await first.query('begin');
      await t.store.append(mine, [{ type: 'counted_a', body: {} }], { client: first });
      await replay.query('begin');
      const replayed = replay.query(`select pgevents.replay_start('counting')`);
      await waitForLockWaiters(pool, 1);
      await second.query('begin');
      // Waits for the projection lock behind the queued replay, holding the row of stream `theirs`.
      const secondAppend = t.store.append(theirs, [{ type: 'counted_a', body: {} }], { client: second });
      await waitForLockWaiters(pool, 2);
      // Waits for `theirs`, closing the cycle first → second → replay → first; PostgreSQL's deadlock
      // check resolves it by granting the second append its shared lock ahead of the replay.
      const firstAgain = t.store.append(theirs, [{ type: 'counted_b', body: {} }], { client: first });

      expect((await withDeadline('the second append', secondAppend)).nextVersion).toBe(1);
      await second.query('commit');
      expect((await withDeadline('the first transaction appending again', firstAgain)).nextVersion).toBe(2);
      await first.query('commit');
      await withDeadline('the replay', replayed);
      await replay.query(`select * from pgevents.replay_step('counting', 0, 1000)`);
      await replay.query('commit');
    } finally {
      first.release(true);
      second.release(true);
      replay.release(true);
    }
    const counts = await other.query(
      'select uuid::text, n from public.stream_counts where uuid = any($1::uuid[]) order by n',
      [[mine, theirs]],
    );
    expect(counts).toEqual([
      { uuid: mine, n: 1 },
      { uuid: theirs, n: 2 },
    ]);
  });

  it('withholds from readAll the commits of later transactions while an earlier appending transaction is open', async () => {
    const [early, late] = [randomUUID(), randomUUID()];
    await inTransaction(async (client) => {
      const open = await t.store.append(early, [{ type: 'counted_a', body: {} }], { client });
      const committed = await other.append(late, [{ type: 'counted_a', body: {} }]);
      expect(committed.events[0]!.position).toBeGreaterThan(open.events[0]!.position);
      expect(await other.readStream(late)).toHaveLength(1);

      // The later commit must not be handed out yet: a cursor past it would skip the open transaction's event.
      const { events: meanwhile, cursor } = await other.readAll({ limit: 100_000 });
      expect(meanwhile.map((event) => event.stream)).not.toContain(late);
      expect(meanwhile.map((event) => event.stream)).not.toContain(early);

      await client.query('commit');
      // readAll hands both out once the server-wide horizon passes them (it waits for writing
      // transactions in every database, so when is not this test's to decide); what must hold is
      // that the cursor given out meanwhile is before both, so that neither can be skipped.
      const [earlyEvent] = await other.readStream(early);
      const [lateEvent] = await other.readStream(late);
      expect(isAfter(cursor, earlyEvent!)).toBe(true);
      expect(isAfter(cursor, lateEvent!)).toBe(true);
      expect(BigInt(earlyEvent!.transactionId)).toBeLessThan(BigInt(lateEvent!.transactionId));
    });
  });
});
