import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppendResult, ConcurrencyError, type EventStore } from '../../src/index.js';
import { server, type TestStore } from '../support/engines.js';
import {
  closeAll,
  closeStreamGate,
  createPool,
  oneTo,
  openStores,
  positionsFollowVersions,
  storedStream,
  waitForLockWaiters,
} from '../support/race-helpers.js';

const WRITERS = 20;

type Outcome = { result: AppendResult } | { error: unknown };

function settle(attempt: Promise<AppendResult>): Promise<Outcome> {
  return attempt.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
}

describe.skipIf(server.unavailable !== null)('concurrent appends to one stream (server)', () => {
  let t: TestStore;
  let url: string;
  let writers: EventStore[];
  let admin: pg.Pool;

  beforeAll(async () => {
    t = await server.createStore();
    url = t.url!;
    writers = await openStores(url, WRITERS, 1);
    admin = createPool(url, 2);
  });
  afterAll(async () => {
    await admin?.end();
    await closeAll(writers ?? []);
    await t?.dispose();
  });

  /** Starts one append per writer while the stream is held, waits until all of them queue, then lets them go. */
  async function raceAppends(stream: string, append: (writer: EventStore, index: number) => Promise<AppendResult>) {
    const gate = await closeStreamGate(url, stream);
    const outcomes = writers.map((writer, index) => settle(append(writer, index)));
    await waitForLockWaiters(admin, WRITERS);
    await gate.open();
    return Promise.all(outcomes);
  }

  it('lets exactly one of 20 concurrent appends at the same expected version through; the other 19 get ConcurrencyError', async () => {
    const stream = randomUUID();
    await t.store.append(stream, [{ type: 'account_opened', body: {} }], { expectedVersion: 'no_stream' });

    const outcomes = await raceAppends(stream, (writer, index) =>
      writer.append(
        stream,
        [
          { type: 'money_deposited', body: { writer: index } },
          { type: 'money_withdrawn', body: { writer: index } },
        ],
        { expectedVersion: 1 },
      ),
    );

    const successes = outcomes.flatMap((outcome) => ('result' in outcome ? [outcome.result] : []));
    const failures = outcomes.flatMap((outcome) => ('error' in outcome ? [outcome.error] : []));
    expect(successes).toHaveLength(1);
    expect(successes[0]!.events.map((event) => event.version)).toEqual([2, 3]);
    expect(failures).toHaveLength(WRITERS - 1);
    for (const error of failures) {
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error).toMatchObject({ code: 'CONCURRENCY', stream, expected: 1, actual: 3 });
    }
    const rows = await storedStream(t.store, stream);
    expect(rows.map((row) => row.version)).toEqual([1, 2, 3]);
    expect(positionsFollowVersions(rows)).toBe(true);
  });

  it('lets exactly one of 20 concurrent no_stream appends create a new stream', async () => {
    const stream = randomUUID();

    const outcomes = await raceAppends(stream, (writer, index) =>
      writer.append(stream, [{ type: 'account_opened', body: { writer: index } }], { expectedVersion: 'no_stream' }),
    );

    const successes = outcomes.filter((outcome) => 'result' in outcome);
    const failures = outcomes.flatMap((outcome) => ('error' in outcome ? [outcome.error] : []));
    expect(successes).toHaveLength(1);
    expect(failures).toHaveLength(WRITERS - 1);
    for (const error of failures) {
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error).toMatchObject({ stream, expected: 'no_stream', actual: 1 });
    }
    expect((await storedStream(t.store, stream)).map((row) => row.version)).toEqual([1]);
  });

  it('gives 20 concurrent appends with expected version any the versions 1..20, gapless and in position order', async () => {
    const stream = randomUUID();

    const outcomes = await raceAppends(stream, (writer, index) =>
      writer.append(stream, [{ type: 'money_deposited', body: { writer: index } }], { expectedVersion: 'any' }),
    );

    const successes = outcomes.flatMap((outcome) => ('result' in outcome ? [outcome.result] : []));
    expect(successes).toHaveLength(WRITERS);
    expect(successes.map((result) => result.nextVersion).sort((a, b) => a - b)).toEqual(oneTo(WRITERS));
    const rows = await storedStream(t.store, stream);
    expect(rows.map((row) => row.version)).toEqual(oneTo(WRITERS));
    expect(positionsFollowVersions(rows)).toBe(true);
    const returned = new Map(successes.map((result) => [result.events[0]!.version, result.events[0]!.position]));
    expect(rows.every((row) => returned.get(row.version) === row.position)).toBe(true);
    const [stored] = await t.store.query<{ version: number }>(
      'select version::int as version from pgevents.streams where stream = $1',
      [stream],
    );
    expect(stored?.version).toBe(WRITERS);
  });

  it('lands every decision of 10 writers that re-read and retry on ConcurrencyError, once each and without gaps', async () => {
    const stream = randomUUID();
    const deciders = writers.slice(0, 10);
    const decisionsPerWriter = 3;
    const maxAttempts = deciders.length * deciders.length * decisionsPerWriter;
    let attempts = 0;

    async function decide(writer: EventStore, index: number): Promise<number> {
      let known = 0;
      let conflicts = 0;
      for (let decision = 0; decision < decisionsPerWriter; ) {
        if (++attempts > maxAttempts) throw new Error(`no progress after ${maxAttempts} attempts`);
        const newer = await writer.readStream(stream, { fromVersion: known + 1 });
        known = newer.at(-1)?.version ?? known;
        try {
          const result = await writer.append(stream, [{ type: 'decided', body: { writer: index, decision } }], {
            expectedVersion: known,
          });
          known = result.nextVersion;
          decision += 1;
        } catch (error) {
          if (!(error instanceof ConcurrencyError)) throw error;
          conflicts += 1;
        }
      }
      return conflicts;
    }

    const conflicts = await Promise.all(deciders.map((writer, index) => decide(writer, index)));

    expect(conflicts.reduce((sum, n) => sum + n, 0)).toBeGreaterThan(0);
    const events = await t.store.readStream(stream);
    expect(events.map((event) => event.version)).toEqual(oneTo(deciders.length * decisionsPerWriter));
    const decisions = events.map((event) => `${String(event.body.writer)}/${String(event.body.decision)}`);
    expect(new Set(decisions).size).toBe(deciders.length * decisionsPerWriter);
    expect(positionsFollowVersions(events.map((event) => ({ version: event.version, position: event.position })))).toBe(
      true,
    );
  });

  it('keeps versions gapless and in position order when plain SQL inserts and appends from several connections interleave', async () => {
    const streams = [randomUUID(), randomUUID()];
    const inserters = 6;
    const rounds = 20;
    const pool = createPool(url, inserters);
    try {
      async function insertLoop(inserter: number): Promise<Record<string, number>> {
        const written: Record<string, number> = {};
        const client = await pool.connect();
        try {
          for (let round = 0; round < rounds; round += 1) {
            const stream = streams[(inserter + round) % streams.length]!;
            if (round % 5 === 4) {
              await client.query(
                `insert into pgevents.events (type, uuid, body)
                 values ('sql_inserted', $1, $2), ('sql_inserted', $1, $3), ('sql_inserted', $1, $4)`,
                [stream, { inserter, round, n: 0 }, { inserter, round, n: 1 }, { inserter, round, n: 2 }],
              );
              written[stream] = (written[stream] ?? 0) + 3;
            } else {
              await client.query(`insert into pgevents.events (type, uuid, body) values ('sql_inserted', $1, $2)`, [
                stream,
                { inserter, round },
              ]);
              written[stream] = (written[stream] ?? 0) + 1;
            }
          }
        } finally {
          client.release();
        }
        return written;
      }

      async function appendLoop(writer: EventStore, index: number): Promise<Record<string, number>> {
        const written: Record<string, number> = {};
        for (let round = 0; round < rounds; round += 1) {
          const stream = streams[(index + round) % streams.length]!;
          await writer.append(stream, [
            { type: 'appended', body: { index, round, n: 0 } },
            { type: 'appended', body: { index, round, n: 1 } },
          ]);
          written[stream] = (written[stream] ?? 0) + 2;
        }
        return written;
      }

      const counts = await Promise.all([
        ...oneTo(inserters).map((inserter) => insertLoop(inserter)),
        ...writers.slice(0, 2).map((writer, index) => appendLoop(writer, index)),
      ]);

      for (const stream of streams) {
        const expected = counts.reduce((sum, written) => sum + (written[stream] ?? 0), 0);
        const rows = await storedStream(t.store, stream);
        expect(rows.map((row) => row.version)).toEqual(oneTo(expected));
        expect(positionsFollowVersions(rows)).toBe(true);
        const [stored] = await t.store.query<{ version: number }>(
          'select version::int as version from pgevents.streams where stream = $1',
          [stream],
        );
        expect(stored?.version).toBe(expected);
      }
    } finally {
      await pool.end();
    }
  });
});
