import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  InvalidEventError,
  SchemaNotInstalledError,
  type StoredEvent,
  type StreamSummary,
  UnknownProjectionError,
} from '../../src/index.js';
import { ACTION_FUNCTIONS } from '../../src/status/permissions.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import {
  READ_ALL_TEST_TIMEOUT_MS,
  readAllWhenVisible,
  rejectionOf,
  usersHandlers,
  usersReadModelSql,
  waitFor,
} from './fixtures.js';

/** The cursor of an event: readAll's place just after it. */
export function cursorOf(event: StoredEvent): string {
  return `${event.transactionId}-${event.position}`;
}

/** Expects the promise to reject with an InvalidArgumentError about `argument`. */
export async function expectInvalidArgument(promise: Promise<unknown>, argument: string): Promise<void> {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(InvalidArgumentError);
  expect((error as InvalidArgumentError).argument).toBe(argument);
}

/** Pages through readAllBackward with the given page size until a page is empty; every page is returned. */
async function readAllBackwardPages(t: TestStore, limit: number) {
  const pages = [await t.store.readAllBackward({ limit })];
  while (pages.at(-1)!.events.length > 0) pages.push(await t.store.readAllBackward({ limit, before: pages.at(-1)!.cursor }));
  return pages;
}

const day = (n: number) => new Date(Date.UTC(2021, 0, n));

// Streams at both ends of the uuid range that the prefix a1 stands for, and just outside it.
const A = 'a1000000-0000-0000-0000-000000000000';
const B = 'a1ffffff-ffff-ffff-ffff-ffffffffffff';
const C = 'a0ffffff-ffff-ffff-ffff-ffffffffffff';
const D = 'a2000000-0000-0000-0000-000000000000';
const E = 'b2c3d4e5-0000-4000-8000-000000000001';

/** Events inserted with the given times, in this order (so positions follow it). */
const SEED = [
  { stream: A, type: 'user_create', at: day(1) },
  { stream: E, type: 'user_create', at: day(1) },
  { stream: B, type: 'user_create', at: day(2) },
  { stream: A, type: 'user_update', at: day(2) },
  { stream: C, type: 'order_placed', at: day(3) },
  { stream: E, type: 'user_login', at: day(3) },
  { stream: D, type: 'user_create', at: day(3) },
  { stream: E, type: 'user_login', at: day(4) },
  { stream: B, type: 'user_update', at: day(4) },
];

export default function storeReadsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`store reads (${engine.name})`, { timeout: READ_ALL_TEST_TIMEOUT_MS }, () => {
    describe('listStreams and streamVersion', () => {
      let t: TestStore;
      /** Position of each SEED event. */
      let positions: number[];

      /** What listStreams reports for `stream` when the SEED events at `indexes` match. */
      function summary(stream: string, indexes: number[]): StreamSummary {
        const matching = indexes.map((index) => ({ ...SEED[index]!, position: positions[index]! }));
        expect(matching.every((event) => event.stream === stream)).toBe(true);
        const times = matching.map((event) => event.at.getTime());
        return {
          stream,
          version: SEED.filter((event) => event.stream === stream).length,
          matching: matching.length,
          types: [...new Set(matching.map((event) => event.type))].sort(),
          firstInsertedAt: new Date(Math.min(...times)),
          lastInsertedAt: new Date(Math.max(...times)),
          lastPosition: Math.max(...matching.map((event) => event.position)),
        };
      }

      const names = (streams: StreamSummary[]) => streams.map((found) => found.stream);

      beforeAll(async () => {
        t = await engine.createStore();
        // Plain INSERTs, the owner's way to give events a time of their own.
        await t.store.execScript(
          SEED.map(
            (event) =>
              `insert into events (type, uuid, body, inserted_at) values ('${event.type}', '${event.stream}', '{}', '${event.at.toISOString()}');`,
          ).join('\n'),
        );
        const rows = await t.store.query<{ id: number }>(`select id::int as id from ${t.store.schema}.events order by id`);
        positions = rows.map((row) => row.id);
        expect(positions).toHaveLength(SEED.length);
      });
      afterAll(async () => {
        await t?.dispose();
      });

      it('lists every stream, the most recently written first, with its version, types, times and last position', async () => {
        const { streams, hasMore } = await t.store.listStreams();
        expect(names(streams)).toEqual([B, E, D, C, A]);
        expect(streams).toEqual([
          summary(B, [2, 8]),
          summary(E, [1, 5, 7]),
          summary(D, [6]),
          summary(C, [4]),
          summary(A, [0, 3]),
        ]);
        expect(streams[1]).toMatchObject({ version: 3, matching: 3, types: ['user_create', 'user_login'] });
        expect(hasMore).toBe(false);
      });

      it('finds the streams whose uuid starts with a prefix, including both ends of its range', async () => {
        expect(names((await t.store.listStreams({ prefix: 'a1' })).streams)).toEqual([B, A]);
        expect(names((await t.store.listStreams({ prefix: 'a' })).streams)).toEqual([B, D, C, A]);
        expect(names((await t.store.listStreams({ prefix: 'a1ff' })).streams)).toEqual([B]);
        expect(names((await t.store.listStreams({ prefix: 'c' })).streams)).toEqual([]);
      });

      it('takes a prefix in upper case, with dashes and surrounding spaces, or a whole uuid', async () => {
        expect(names((await t.store.listStreams({ prefix: ' A1 ' })).streams)).toEqual([B, A]);
        expect(names((await t.store.listStreams({ prefix: 'a1ffffff-ff' })).streams)).toEqual([B]);
        expect(names((await t.store.listStreams({ prefix: E.toUpperCase() })).streams)).toEqual([E]);
        expect(names((await t.store.listStreams({ prefix: '' })).streams)).toEqual([B, E, D, C, A]);
      });

      it('finds the streams with events of a type, counting and dating only those events', async () => {
        const logins = await t.store.listStreams({ type: 'user_login' });
        expect(logins.streams).toEqual([summary(E, [5, 7])]);
        const creates = await t.store.listStreams({ type: 'user_create' });
        expect(creates.streams).toEqual([summary(D, [6]), summary(B, [2]), summary(E, [1]), summary(A, [0])]);
        expect((await t.store.listStreams({ type: 'no_such_type' })).streams).toEqual([]);
      });

      it('keeps to the events inserted from `from` (inclusive) to `to` (exclusive)', async () => {
        expect((await t.store.listStreams({ from: day(3) })).streams).toEqual([
          summary(B, [8]),
          summary(E, [5, 7]),
          summary(D, [6]),
          summary(C, [4]),
        ]);
        expect((await t.store.listStreams({ to: day(2) })).streams).toEqual([summary(E, [1]), summary(A, [0])]);
        expect(names((await t.store.listStreams({ from: day(2), to: day(4) })).streams)).toEqual([D, E, C, A, B]);
        expect((await t.store.listStreams({ from: day(5) })).streams).toEqual([]);
      });

      it('combines prefix, type and time', async () => {
        const { streams } = await t.store.listStreams({ prefix: 'a1', type: 'user_update', from: day(3) });
        expect(streams).toEqual([summary(B, [8])]);
      });

      it('pages with limit and offset, and says whether more streams follow', async () => {
        const page = (offset: number) => t.store.listStreams({ limit: 2, offset });
        expect(await page(0)).toMatchObject({ hasMore: true });
        expect(names((await page(0)).streams)).toEqual([B, E]);
        expect(names((await page(2)).streams)).toEqual([D, C]);
        expect((await page(2)).hasMore).toBe(true);
        expect(names((await page(4)).streams)).toEqual([A]);
        expect((await page(4)).hasMore).toBe(false);
        expect(await page(5)).toEqual({ streams: [], hasMore: false });
        expect((await t.store.listStreams({ limit: 5 })).hasMore).toBe(false);
        expect((await t.store.listStreams({ limit: 4 })).hasMore).toBe(true);
        expect(await t.store.listStreams({ prefix: 'a1', limit: 1, offset: 1 })).toEqual({ streams: [summary(A, [0, 3])], hasMore: false });
      });

      it('rejects a prefix that is not hex digits, a time that is not a Date, and a bad limit or offset', async () => {
        await expectInvalidArgument(t.store.listStreams({ prefix: 'xyz' }), 'prefix');
        await expectInvalidArgument(t.store.listStreams({ prefix: 'a'.repeat(33) }), 'prefix');
        await expectInvalidArgument(t.store.listStreams({ prefix: "a1' or 1=1" }), 'prefix');
        await expectInvalidArgument(t.store.listStreams({ from: '2021-01-01' as unknown as Date }), 'from');
        await expectInvalidArgument(t.store.listStreams({ to: new Date('not a time') }), 'to');
        for (const limit of [0, -1, 1.5, 10_001, Number.NaN]) await expectInvalidArgument(t.store.listStreams({ limit }), 'limit');
        for (const offset of [-1, 0.5]) await expectInvalidArgument(t.store.listStreams({ offset }), 'offset');
      });

      it('gives the version of a stream, 0 for a stream without events, and follows appends', async () => {
        expect(await t.store.streamVersion(E)).toBe(3);
        expect(await t.store.streamVersion(E.toUpperCase())).toBe(3);
        const stream = randomUUID();
        expect(await t.store.streamVersion(stream)).toBe(0);
        await t.store.append(stream, [
          { type: 'user_create', body: {} },
          { type: 'user_update', body: {} },
        ]);
        expect(await t.store.streamVersion(stream)).toBe(2);
        await t.store.append(stream, [{ type: 'user_update', body: {} }]);
        expect(await t.store.streamVersion(stream)).toBe(3);
      });

      it('rejects a stream id that is not a uuid', async () => {
        for (const stream of ['nope', '', 'a1000000-0000-0000-0000-00000000000g']) {
          expect(await rejectionOf(t.store.streamVersion(stream))).toBeInstanceOf(InvalidEventError);
        }
      });
    });

    describe('readEvent and readAllBackward', () => {
      let t: TestStore;
      /** Every event, in readAll's order. */
      let forward: StoredEvent[];

      beforeAll(async () => {
        t = await engine.createStore();
        const streams = [randomUUID(), randomUUID(), randomUUID()];
        let count = 0;
        for (let round = 0; round < 4; round++) {
          for (const [index, stream] of streams.entries()) {
            const size = 1 + ((round + index) % 3);
            await t.store.append(
              stream,
              Array.from({ length: size }, (_, n) => ({ type: n % 2 === 0 ? 'user_update' : 'user_login', body: { round, n } })),
            );
            count += size;
          }
        }
        forward = await readAllWhenVisible(t.store, count);
      }, READ_ALL_TEST_TIMEOUT_MS);
      afterAll(async () => {
        await t?.dispose();
      });

      it('reads the event at a position, as readAll returns it', async () => {
        for (const event of [forward[0]!, forward[7]!, forward.at(-1)!]) {
          expect(await t.store.readEvent(event.position)).toEqual(event);
        }
      });

      it('returns null for a position where no event is stored: past the end, or left by a rollback', async () => {
        expect(await t.store.readEvent(forward.at(-1)!.position + 1000)).toBeNull();
        expect(await t.store.readEvent(Number.MAX_SAFE_INTEGER)).toBeNull();
        let position = 0;
        const rollback = new Error('roll back');
        const error = await rejectionOf(
          t.store.transaction(async (tx) => {
            const { events } = await t.store.append(randomUUID(), [{ type: 'user_create', body: {} }], { client: tx });
            position = events[0]!.position;
            throw rollback;
          }),
        );
        expect(error).toBe(rollback);
        expect(position).toBeGreaterThan(forward.at(-1)!.position);
        expect(await t.store.readEvent(position)).toBeNull();
      });

      it('rejects a position that is not a positive integer', async () => {
        for (const position of [0, -1, 1.5, Number.NaN, '1' as unknown as number]) {
          await expectInvalidArgument(t.store.readEvent(position), 'position');
        }
      });

      it('returns the log newest first: readAll reversed', async () => {
        const { events, cursor } = await t.store.readAllBackward();
        expect(events).toEqual([...forward].reverse());
        expect(cursor).toBe(cursorOf(forward[0]!));
      });

      it('pages back with the returned cursor, every event once, until an empty page that keeps the cursor', async () => {
        const pages = await readAllBackwardPages(t, 4);
        expect(pages.slice(0, -1).every((page) => page.events.length > 0 && page.events.length <= 4)).toBe(true);
        expect(pages.flatMap((page) => page.events)).toEqual([...forward].reverse());
        const end = pages.at(-1)!;
        expect(end).toEqual({ events: [], cursor: pages.at(-2)!.cursor });
        expect(end.cursor).toBe(cursorOf(forward[0]!));
      });

      it('reads back from a cursor readAll handed out: everything before it, newest first', async () => {
        const page = await t.store.readAll({ limit: 5 });
        expect(page.cursor).toBe(cursorOf(forward[4]!));
        const back = await t.store.readAllBackward({ before: page.cursor });
        expect(back).toEqual({ events: forward.slice(0, 4).reverse(), cursor: cursorOf(forward[0]!) });
      });

      it('reads the event before an event from its cursor, and stops after limit events', async () => {
        const back = await t.store.readAllBackward({ before: cursorOf(forward[9]!), limit: 3 });
        expect(back).toEqual({ events: [forward[8]!, forward[7]!, forward[6]!], cursor: cursorOf(forward[6]!) });
        expect((await t.store.readAllBackward({ before: cursorOf(forward[1]!), limit: 1 })).events).toEqual([forward[0]!]);
        expect((await t.store.readAllBackward({ limit: 2 })).events).toEqual([forward.at(-1)!, forward.at(-2)!]);
      });

      it('returns nothing before the first event, with the cursor it was given in its plain form', async () => {
        expect(await t.store.readAllBackward({ before: cursorOf(forward[0]!) })).toEqual({ events: [], cursor: cursorOf(forward[0]!) });
        expect(await t.store.readAllBackward({ before: '0-0' })).toEqual({ events: [], cursor: '0-0' });
        expect(await t.store.readAllBackward({ before: '000-00' })).toEqual({ events: [], cursor: '0-0' });
      });

      it('rejects a malformed cursor and a limit that is not an integer from 1 to 100,000', async () => {
        for (const before of ['', 'abc', '12', '1-', '-1-2', 'end', 12 as unknown as string]) {
          await expectInvalidArgument(t.store.readAllBackward({ before }), 'before');
        }
        for (const limit of [0, -1, 1.5, 100_001, Number.NaN]) await expectInvalidArgument(t.store.readAllBackward({ limit }), 'limit');
        expect((await t.store.readAllBackward({ limit: 100_000 })).events).toHaveLength(forward.length);
      });

      it('holds back no events once every transaction that wrote has ended', async () => {
        await waitFor(async () => ((await t.store.heldBackEvents()) === 0 ? true : undefined), 'no events held back');
        expect(await t.store.heldBackEvents({ max: 1 })).toBe(0);
      });

      it('rejects a heldBackEvents max that is not an integer from 1 to 1,000,000', async () => {
        for (const max of [0, -1, 1.5, 1_000_001]) await expectInvalidArgument(t.store.heldBackEvents({ max }), 'max');
      });
    });

    describe('listEventTypes', () => {
      let t: TestStore;

      beforeAll(async () => {
        t = await engine.createStore();
      });
      afterAll(async () => {
        await t?.dispose();
      });

      it('lists nothing in an empty store', async () => {
        expect(await t.store.listEventTypes()).toEqual([]);
      });

      it('lists every stored type by name with its count, last position and the projections that handle it', async () => {
        await t.store.execScript(`
          ${usersReadModelSql(t.store.schema)}
          create table public.audit_log (position bigint primary key, type text not null);
          create function public.audit_event(e ${t.store.schema}.events) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin insert into audit_log values (e.id, e.type); end; $$;`);
        await t.store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
        await t.store.defineProjection({ name: 'audit', handlers: { user_create: 'public.audit_event' }, tables: ['public.audit_log'] });
        const [ada, grace] = [randomUUID(), randomUUID()];
        await t.store.append(ada, [
          { type: 'user_create', body: { name: 'Ada' } },
          { type: 'user_update', body: { name: 'Ada L.' } },
        ]);
        const order = await t.store.append(randomUUID(), [{ type: 'order_placed', body: {} }]);
        const create = await t.store.append(grace, [{ type: 'user_create', body: { name: 'Grace' } }]);
        const update = await t.store.append(ada, [{ type: 'user_update', body: { name: 'Countess' } }]);

        expect(await t.store.listEventTypes()).toEqual([
          { type: 'order_placed', events: 1, lastPosition: order.events[0]!.position, handledBy: [] },
          { type: 'user_create', events: 2, lastPosition: create.events[0]!.position, handledBy: ['audit', 'users'] },
          { type: 'user_update', events: 2, lastPosition: update.events[0]!.position, handledBy: ['users'] },
        ]);
      });

      it('lists a type as handled once a projection handles it, and unhandled once none does', async () => {
        await t.store.defineProjection({ name: 'audit', handlers: { user_create: 'public.audit_event', order_placed: 'public.audit_event' }, tables: ['public.audit_log'] });
        expect((await t.store.listEventTypes()).find((type) => type.type === 'order_placed')?.handledBy).toEqual(['audit']);
        await t.store.dropProjection('audit');
        const types = await t.store.listEventTypes();
        expect(types.map((type) => [type.type, type.handledBy])).toEqual([
          ['order_placed', []],
          ['user_create', ['users']],
          ['user_update', ['users']],
        ]);
      });
    });

    describe('appendsPerMinute', () => {
      let t: TestStore;

      /** The counts expected for events inserted at `times`, in the hour that starts at `start`. */
      function bucketsOf(start: Date, times: Date[]): number[] {
        const counts = Array.from({ length: 60 }, () => 0);
        for (const time of times) {
          const bucket = Math.floor((time.getTime() - start.getTime()) / 60_000);
          if (bucket >= 0 && bucket < 60) counts[bucket]! += 1;
        }
        return counts;
      }

      function expectWholeHour(start: Date): void {
        expect(start.getTime() % 60_000).toBe(0);
        // The last bucket is the current minute (of the database's clock, the same machine's).
        expect(Math.abs(start.getTime() + 59 * 60_000 - Date.now())).toBeLessThan(2 * 60_000);
      }

      beforeAll(async () => {
        t = await engine.createStore();
      });
      afterAll(async () => {
        await t?.dispose();
      });

      it('counts nothing in an empty store: 60 one-minute buckets of the last hour', async () => {
        const { start, counts, capped } = await t.store.appendsPerMinute();
        expectWholeHour(start);
        expect(counts).toEqual(Array.from({ length: 60 }, () => 0));
        expect(capped).toBe(false);
      });

      it('counts the events of the last hour in the minute they were inserted, and none older', async () => {
        await t.store.execScript(`
          insert into events (type, uuid, body, inserted_at) values ('old', '${randomUUID()}', '{}', now() - interval '90 minutes');
          insert into events (type, uuid, body, inserted_at) values ('recent', '${randomUUID()}', '{}', now() - interval '30 minutes');`);
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'now', body: {} }]);
        await t.store.append(stream, [
          { type: 'now', body: {} },
          { type: 'now', body: {} },
        ]);
        const { start, counts, capped } = await t.store.appendsPerMinute();
        expectWholeHour(start);
        const times = (await t.store.query<{ inserted_at: Date | string }>(`select inserted_at from ${t.store.schema}.events`)).map(
          (row) => new Date(row.inserted_at),
        );
        expect(times).toHaveLength(5);
        expect(counts).toEqual(bucketsOf(start, times));
        expect(counts.reduce((sum, count) => sum + count, 0)).toBe(4);
        expect(capped).toBe(false);
      });
    });

    describe('appendsPerMinute on a long log', () => {
      let t: TestStore;

      beforeAll(async () => {
        t = await engine.createStore();
      });
      afterAll(async () => {
        await t?.dispose();
      });

      // Only the newest 100,000 positions are scanned. A jump of the position sequence stands in
      // for a long log: positions have gaps anyway (rolled-back appends leave them).
      async function skipPositions(): Promise<void> {
        await t.store.query(`select setval('${t.store.schema}.events_id_seq', (select coalesce(max(id), 0) from ${t.store.schema}.events) + 200000)`);
      }

      it('is not capped when the events left out of the scan are older than the hour', async () => {
        await t.store.execScript(`insert into events (type, uuid, body, inserted_at) values ('old', '${randomUUID()}', '{}', now() - interval '2 hours');`);
        await skipPositions();
        await t.store.append(randomUUID(), [{ type: 'now', body: {} }]);
        const { counts, capped } = await t.store.appendsPerMinute();
        expect(counts.reduce((sum, count) => sum + count, 0)).toBe(1);
        expect(capped).toBe(false);
      });

      it('is capped when an event of the hour was left out of the scan', async () => {
        await skipPositions();
        await t.store.append(randomUUID(), [{ type: 'now', body: {} }]);
        const { counts, capped } = await t.store.appendsPerMinute();
        expect(counts.reduce((sum, count) => sum + count, 0)).toBe(1);
        expect(capped).toBe(true);
      });
    });

    describe('listStreams past the newest 10,000 events', () => {
      let t: TestStore;
      const old = Array.from({ length: 5 }, () => randomUUID());
      const hot = randomUUID();

      // The streams of a page are found by reading the log backwards 10,000 events at a time:
      // five old streams lie behind 10,500 events of one hot stream.
      beforeAll(async () => {
        t = await engine.createStore();
        for (const stream of old) await t.store.append(stream, [{ type: 'user_update', body: {} }]);
        await t.store.append(hot, Array.from({ length: 10_000 }, () => ({ type: 'user_update', body: {} })));
        await t.store.append(hot, Array.from({ length: 500 }, () => ({ type: 'user_update', body: {} })));
      });
      afterAll(async () => {
        await t?.dispose();
      });

      it('finds the streams behind them, most recently written first, with and without a type, a page at a time', async () => {
        const newestFirst = [hot, ...[...old].reverse()];
        for (const type of [undefined, 'user_update']) {
          const all = await t.store.listStreams({ limit: 10, ...(type ? { type } : {}) });
          expect(all.streams.map((summary) => summary.stream)).toEqual(newestFirst);
          expect(all.hasMore).toBe(false);
          expect(all.streams[0]).toMatchObject({ version: 10_500, matching: 10_500, types: ['user_update'] });
          const second = await t.store.listStreams({ limit: 2, offset: 2, ...(type ? { type } : {}) });
          expect(second.streams.map((summary) => summary.stream)).toEqual(newestFirst.slice(2, 4));
          expect(second.hasMore).toBe(true);
        }
        expect((await t.store.listStreams({ limit: 3, offset: 6 })).streams).toEqual([]);
      });
    });

    describe('permissions', () => {
      let t: TestStore;

      beforeAll(async () => {
        t = await engine.createStore();
      });
      afterAll(async () => {
        await t?.dispose();
      });

      it('lets the owner do everything, and names it', async () => {
        const [row] = await t.store.query<{ role: string }>('select current_user::text as role');
        expect(await t.store.permissions()).toEqual({
          role: row!.role,
          rebuild: true,
          verify: true,
          refresh: true,
          manageSubscriptions: true,
        });
      });

      it('names only SQL functions that a migrated store has, with their exact signatures', async () => {
        const signatures = Object.values(ACTION_FUNCTIONS).flat();
        expect(signatures.length).toBeGreaterThanOrEqual(Object.keys(ACTION_FUNCTIONS).length);
        for (const signature of signatures) {
          const [row] = await t.store.query<{ found: boolean }>('select to_regprocedure($1) is not null as found', [
            `${t.store.schema}.${signature}`,
          ]);
          expect({ signature, found: row!.found }).toEqual({ signature, found: true });
        }
      });

      it('fails loudly instead of reporting "not allowed" when one of its functions is missing', async () => {
        await t.store.query(`drop function ${t.store.schema}.rebuild_swap(text, text)`);
        const error = await rejectionOf(t.store.permissions());
        expect(error).toBeInstanceOf(SchemaNotInstalledError);
        expect(String((error as Error).cause)).toContain(`${t.store.schema}.rebuild_swap(text,text)`);
      });
    });

    describe('listProjectionTables and readProjectionRows', () => {
      let t: TestStore;
      /** The users streams, in uuid order. */
      let users: string[];

      beforeAll(async () => {
        t = await engine.createStore();
        const schema = t.store.schema;
        await t.store.execScript(`
          ${usersReadModelSql(schema)}
          create table public.audit_log (position bigint primary key, type text not null);
          create table public.audit_seen (stream uuid not null, type text not null);
          create function public.audit_event(e ${schema}.events) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin
            insert into audit_log values (e.id, e.type);
            insert into audit_seen values (e.uuid, e.type);
          end; $$;
          create table public.codes (id int not null, code text not null, note text, unique (note), unique (code));
          create table public.notes (id int not null, note text unique);
          create function public.ignore_event(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp as $$ begin null; end; $$;`);
        await t.store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
        await t.store.defineProjection({
          name: 'audit',
          handlers: { user_create: 'public.audit_event', user_update: 'public.audit_event' },
          tables: ['public.audit_log', 'public.audit_seen'],
        });
        await t.store.defineProjection({ name: 'lookup', handlers: { code_added: 'public.ignore_event' }, tables: ['public.codes', 'public.notes'] });
        users = [randomUUID(), randomUUID(), randomUUID()];
        for (const [index, stream] of users.entries()) {
          await t.store.append(stream, [{ type: 'user_create', body: { name: `user ${index}` } }]);
        }
        await t.store.append(users[0]!, [{ type: 'user_update', body: { name: 'renamed' } }]);
        users.sort();
        await t.store.execScript(`
          insert into public.codes values (1, 'c', null), (2, 'a', 'x'), (3, 'b', null);
          insert into public.notes values (1, null), (2, 'b'), (3, null), (4, 'a'), (5, null);`);
      });
      afterAll(async () => {
        await t?.dispose();
      });

      it("lists every projection's tables, schema-qualified, with their rows counted", async () => {
        expect(await t.store.listProjectionTables()).toEqual([
          { projection: 'audit', table: 'public.audit_log', relation: 'public.audit_log', rows: 4, rowsCapped: false, problem: null },
          { projection: 'audit', table: 'public.audit_seen', relation: 'public.audit_seen', rows: 4, rowsCapped: false, problem: null },
          { projection: 'lookup', table: 'public.codes', relation: 'public.codes', rows: 3, rowsCapped: false, problem: null },
          { projection: 'lookup', table: 'public.notes', relation: 'public.notes', rows: 5, rowsCapped: false, problem: null },
          { projection: 'users', table: 'public.users', relation: 'public.users', rows: 3, rowsCapped: false, problem: null },
        ]);
      });

      it('lists one projection, and counts rows up to maxRows', async () => {
        expect(await t.store.listProjectionTables({ projection: 'users' })).toEqual([
          { projection: 'users', table: 'public.users', relation: 'public.users', rows: 3, rowsCapped: false, problem: null },
        ]);
        expect(await t.store.listProjectionTables({ projection: 'users', maxRows: 3 })).toMatchObject([{ rows: 3, rowsCapped: false }]);
        expect(await t.store.listProjectionTables({ projection: 'users', maxRows: 2 })).toMatchObject([{ rows: 2, rowsCapped: true }]);
      });

      it('rejects an unknown projection and a maxRows that is not a positive integer', async () => {
        expect(await rejectionOf(t.store.listProjectionTables({ projection: 'nope' }))).toBeInstanceOf(UnknownProjectionError);
        for (const maxRows of [0, -1, 1.5]) await expectInvalidArgument(t.store.listProjectionTables({ maxRows }), 'maxRows');
      });

      it("reads a page of a projection's first table, with its columns, ordered by the primary key", async () => {
        const page = await t.store.readProjectionRows('users');
        expect(page).toMatchObject({
          projection: 'users',
          table: 'public.users',
          relation: 'public.users',
          columns: [
            { name: 'uuid', type: 'uuid' },
            { name: 'name', type: 'text' },
            { name: 'version', type: 'bigint' },
            { name: 'updated_at', type: 'timestamp with time zone' },
          ],
          orderedBy: 'primary key',
          hasMore: false,
        });
        expect(page!.rows.map((row) => row.uuid)).toEqual(users);
        const renamed = page!.rows.find((row) => row.name === 'renamed')!;
        // Rows are as the driver returns them: int8 is a string from pg, a number from PGlite.
        expect(Number(renamed.version)).toBe(2);
        expect(page!.rows.filter((row) => row.name !== 'renamed').map((row) => Number(row.version))).toEqual([1, 1]);
      });

      it('pages with limit and offset, and says whether more rows follow', async () => {
        const first = await t.store.readProjectionRows('users', { limit: 2 });
        expect(first!.rows.map((row) => row.uuid)).toEqual(users.slice(0, 2));
        expect(first!.hasMore).toBe(true);
        const second = await t.store.readProjectionRows('users', { limit: 2, offset: 2 });
        expect(second!.rows.map((row) => row.uuid)).toEqual(users.slice(2));
        expect(second!.hasMore).toBe(false);
        expect((await t.store.readProjectionRows('users', { limit: 3 }))!.hasMore).toBe(false);
        expect(await t.store.readProjectionRows('users', { offset: 3 })).toMatchObject({ rows: [], hasMore: false });
      });

      it('reads another of its tables by its registered name', async () => {
        const log = await t.store.readProjectionRows('audit', { table: 'public.audit_log' });
        expect(log).toMatchObject({ table: 'public.audit_log', orderedBy: 'primary key' });
        const positions = log!.rows.map((row) => Number(row.position));
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
        expect(log!.rows.map((row) => row.type)).toEqual(['user_create', 'user_create', 'user_create', 'user_update']);
        const seen = await t.store.readProjectionRows('audit', { table: 'public.audit_seen' });
        expect(seen).toMatchObject({ orderedBy: 'physical order', hasMore: false });
        expect(seen!.rows).toHaveLength(4);
      });

      it('orders by a unique index without nulls first, and pages a nullable one without repeating or skipping rows', async () => {
        const codes = await t.store.readProjectionRows('lookup', { table: 'public.codes' });
        expect(codes).toMatchObject({ orderedBy: 'unique index' });
        expect(codes!.rows.map((row) => row.code)).toEqual(['a', 'b', 'c']);
        const pages = [];
        for (let offset = 0; offset < 6; offset++) pages.push(await t.store.readProjectionRows('lookup', { table: 'public.notes', limit: 1, offset }));
        expect(pages[0]).toMatchObject({ orderedBy: 'unique index' });
        expect(pages.map((page) => page!.hasMore)).toEqual([true, true, true, true, false, false]);
        const rows = pages.flatMap((page) => page!.rows);
        expect(rows.slice(0, 2).map((row) => row.note)).toEqual(['a', 'b']);
        expect(rows.map((row) => row.id as number).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
      });

      it('rejects an unknown projection, a table the projection does not have, and a bad limit or offset', async () => {
        expect(await rejectionOf(t.store.readProjectionRows('nope'))).toBeInstanceOf(UnknownProjectionError);
        await expectInvalidArgument(t.store.readProjectionRows('users', { table: 'public.audit_log' }), 'table');
        await expectInvalidArgument(t.store.readProjectionRows('users', { table: 'users' }), 'table');
        await expectInvalidArgument(t.store.readProjectionRows('users', { table: `${t.store.schema}.events` }), 'table');
        for (const limit of [0, -1, 1.5, 10_001]) await expectInvalidArgument(t.store.readProjectionRows('users', { limit }), 'limit');
        for (const offset of [-1, 0.5]) await expectInvalidArgument(t.store.readProjectionRows('users', { offset }), 'offset');
      });

      it('reports a dropped table instead of failing: listed with its problem, and no page to read', async () => {
        await t.store.execScript('drop table public.audit_seen');
        expect(await t.store.listProjectionTables({ projection: 'audit' })).toEqual([
          { projection: 'audit', table: 'public.audit_log', relation: 'public.audit_log', rows: 4, rowsCapped: false, problem: null },
          { projection: 'audit', table: 'public.audit_seen', relation: null, rows: null, rowsCapped: false, problem: 'the table no longer exists' },
        ]);
        expect(await t.store.readProjectionRows('audit', { table: 'public.audit_seen' })).toBeNull();
        expect((await t.store.readProjectionRows('audit'))!.rows).toHaveLength(4);
      });
    });
  });
}
