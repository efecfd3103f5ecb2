import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, ProjectionHandlerError } from '../../src/index.js';
import { server, type TestStore } from '../support/engines.js';
import {
  caught,
  checkReadModel,
  closeAll,
  createPool,
  defineCountingProjection,
  oneTo,
  openStores,
  storedStream,
  waitForLockWaiters,
  withDeadline,
} from '../support/race-helpers.js';

describe.skipIf(server.unavailable !== null)('projection handler failures under concurrency (server)', () => {
  let t: TestStore;
  let url: string;
  let writers: EventStore[];
  let pool: pg.Pool;

  beforeAll(async () => {
    t = await server.createStore();
    url = t.url!;
    await defineCountingProjection(t.store);
    writers = await openStores(url, 5, 1);
    pool = createPool(url, 4);
  });
  afterAll(async () => {
    await pool?.end();
    await closeAll(writers ?? []);
    await t?.dispose();
  });

  async function expectReadModelMatchesEvents(): Promise<void> {
    const check = await checkReadModel(t.store);
    expect(check.strayPositions).toEqual([]);
    expect(check.missingPositions).toEqual([]);
    expect(check.counts).toEqual(check.expected);
  }

  it('rejects only the appends whose handler fails while other connections keep appending to the same streams', async () => {
    const streams = [randomUUID(), randomUUID(), randomUUID()];
    const rounds = 40;
    const [failing, ...good] = writers;

    async function appendGood(writer: EventStore, index: number): Promise<number> {
      for (let n = 0; n < rounds; n += 1) {
        await writer.append(streams[(index + n) % streams.length]!, [{ type: 'counted_a', body: { index, n } }]);
      }
      return rounds;
    }
    async function appendFailing(): Promise<unknown[]> {
      const errors: unknown[] = [];
      for (let n = 0; n < rounds; n += 1) {
        const stream = streams[n % streams.length]!;
        errors.push(
          await caught(() =>
            failing!.append(stream, [
              { type: 'counted_b', body: { n } },
              { type: 'counted_a', body: { n, fail: true } },
            ]),
          ),
        );
      }
      return errors;
    }

    const [errors, ...appended] = await Promise.all([
      appendFailing(),
      ...good.map((writer, index) => appendGood(writer, index)),
    ]);

    expect(errors).toHaveLength(rounds);
    errors.forEach((error, n) => {
      expect(error).toBeInstanceOf(ProjectionHandlerError);
      expect(error).toMatchObject({
        projection: 'counting',
        eventType: 'counted_a',
        stream: streams[n % streams.length],
        sqlState: 'P0001',
      });
    });
    const total = appended.reduce((sum, n) => sum + n, 0);
    const versions = await Promise.all(
      streams.map(async (stream) => (await storedStream(t.store, stream)).map((row) => row.version)),
    );
    expect(versions.reduce((sum, stream) => sum + stream.length, 0)).toBe(total);
    for (const stream of versions) expect(stream).toEqual(oneTo(stream.length));
    const [leaked] = await t.store.query<{ events: number }>(
      `select count(*)::int as events from pgevents.events where uuid = any($1::uuid[]) and type = 'counted_b'`,
      [streams],
    );
    expect(leaked?.events).toBe(0);
    await expectReadModelMatchesEvents();
  });

  it('holds no lock once a handler failed: other connections append to its stream before it rolls back', async () => {
    const [held, other] = [randomUUID(), randomUUID()];
    const client = await pool.connect();
    try {
      await client.query('begin');
      await t.store.append(held, [{ type: 'counted_a', body: {} }], { client });
      const queued = writers[1]!.append(held, [{ type: 'counted_b', body: {} }], { expectedVersion: 'no_stream' });
      await waitForLockWaiters(pool, 1);

      const failure = await caught(() => t.store.append(held, [{ type: 'counted_a', body: { fail: true } }], { client }));
      expect(failure).toBeInstanceOf(ProjectionHandlerError);
      // PostgreSQL releases an aborted transaction's locks at the error, not at the ROLLBACK.
      const continued = await withDeadline('the queued append while the failed transaction is still open', queued);
      expect(continued.events.map((event) => event.version)).toEqual([1]);
      const elsewhere = await withDeadline(
        'an append to another stream while the failed transaction is still open',
        writers[0]!.append(other, [{ type: 'counted_b', body: {} }], { expectedVersion: 'no_stream' }),
      );
      expect(elsewhere.nextVersion).toBe(1);
      await client.query('rollback');
    } finally {
      client.release(true);
    }
    expect((await storedStream(t.store, held)).map((row) => row.version)).toEqual([1]);
    await expectReadModelMatchesEvents();
  });

  it('releases the appends a failing replay held up, and applies each of them once', async () => {
    const [healthy, broken] = [randomUUID(), randomUUID()];
    await t.store.append(healthy, [{ type: 'counted_a', body: {} }]);
    await t.store.append(broken, [{ type: 'counted_a', body: {} }]);
    await t.store.query('insert into public.failing_streams (uuid) values ($1)', [broken]);
    const before = await checkReadModel(t.store);

    const replay = await pool.connect();
    try {
      await replay.query('begin');
      await replay.query(`select pgevents.replay_start('counting')`);
      const held = writers.map((writer, index) =>
        writer.append(index % 2 === 0 ? healthy : randomUUID(), [{ type: 'counted_b', body: { index } }]),
      );
      await waitForLockWaiters(pool, writers.length);
      const failure = await caught(() => replay.query(`select * from pgevents.replay_step('counting', 0, 1000)`));
      expect(failure).toMatchObject({ code: 'PE007' });
      await replay.query('rollback');
      const released = await withDeadline('the appends held up by the failed replay', Promise.all(held));
      expect(released).toHaveLength(writers.length);
    } finally {
      replay.release(true);
    }

    const after = await checkReadModel(t.store);
    expect(after.counts[broken]).toBe(before.counts[broken]);
    expect(after.counts[healthy]).toBe(1 + Math.ceil(writers.length / 2));
    await expectReadModelMatchesEvents();

    await expect(t.store.replay('counting')).rejects.toBeInstanceOf(ProjectionHandlerError);
    await t.store.query('delete from public.failing_streams where uuid = $1', [broken]);
    await t.store.replay('counting');
    await expectReadModelMatchesEvents();
  });
});
