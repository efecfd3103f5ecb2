import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, type EventStore, InvalidEventError, openEventStore, PgEventsError } from '../../src/index.js';
import { server, type TestStore } from '../support/engines.js';
import {
  closeAll,
  createPool,
  oneTo,
  openStores,
  positionsFollowVersions,
  type StreamRow,
  storedStream,
  waitForLockWaiters,
  withDeadline,
} from '../support/race-helpers.js';

const SCHEMA = 'pgevents';

/** A connection of its own, outside any pool: one side of a race. */
async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Deadlocks between writers that lock several streams in different orders: the victim retries. */
function isRetryable(error: unknown): boolean {
  return codeOf(error) === '40P01' || codeOf(error) === '40001';
}

function shuffled<T>(values: T[]): T[] {
  const copy = [...values];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}

describe.skipIf(server.unavailable !== null)('the plain INSERT / COPY write path under concurrency (server)', () => {
  let t: TestStore;
  let url: string;
  let admin: pg.Pool;
  let clients: pg.Client[] = [];

  beforeAll(async () => {
    t = await server.createStore();
    url = t.url!;
    admin = createPool(url, 2);
  });
  afterEach(async () => {
    const opened = clients;
    clients = [];
    await Promise.all(opened.map((opened) => opened.end().catch(() => undefined)));
  });
  afterAll(async () => {
    await admin?.end();
    await t?.dispose();
  });

  async function client(): Promise<pg.Client> {
    const opened = await connect(url);
    clients.push(opened);
    return opened;
  }

  async function recordedVersion(stream: string): Promise<number | undefined> {
    const [row] = await t.store.query<{ version: number }>(`select version::int as version from ${SCHEMA}.streams where stream = $1`, [stream]);
    return row?.version;
  }

  /** The stream is 1..n without gaps, its positions rise with its versions, and streams records n. */
  async function expectGapless(stream: string, n: number): Promise<StreamRow[]> {
    const rows = await storedStream(t.store, stream);
    expect(rows.map((row) => row.version)).toEqual(oneTo(n));
    expect(positionsFollowVersions(rows)).toBe(true);
    expect(await recordedVersion(stream)).toBe(n === 0 ? undefined : n);
    return rows;
  }

  type Holder = 'plain insert' | 'append_events';

  /** `count` events written to `stream` by the holder's transaction, the way the holder writes. */
  async function holderWrites(holder: pg.Client, how: Holder, stream: string, count: number, tag: string): Promise<void> {
    if (how === 'plain insert') {
      await holder.query(
        `insert into ${SCHEMA}.events (type, uuid, body)
         select 'held', $1, jsonb_build_object('by', 'holder', 'tag', $2::text, 'i', i) from generate_series(1, $3::int) i`,
        [stream, tag, count],
      );
    } else {
      const events = Array.from({ length: count }, (_, i) => ({ type: 'held', body: { by: 'holder', tag, i: i + 1 } }));
      await holder.query(`select * from ${SCHEMA}.append_events($1, $2::jsonb, 'any')`, [stream, JSON.stringify(events)]);
    }
  }

  /** One plain INSERT of rows for the streams named in `rows` (S or T), in that order. */
  function waitingInsert(waiter: pg.Client, rows: string[]): Promise<pg.QueryResult> {
    return waiter.query(
      `insert into ${SCHEMA}.events (type, uuid, body)
       select 'waited', r.stream, jsonb_build_object('by', 'waiter', 'i', r.i)
         from unnest($1::uuid[]) with ordinality r(stream, i)
        order by r.i`,
      [rows],
    );
  }

  interface WaitCase {
    existing: number;
    holder: Holder;
    outcome: 'commit' | 'rollback';
    rows: ('S' | 'T')[];
  }

  /**
   * The holder's transaction writes one event to S (taking its lock, or creating it), a plain
   * INSERT queues behind it, the holder writes two more events to S and ends; then the insert must
   * take the versions after whatever the holder left.
   */
  async function raceWaitingInsert(c: WaitCase): Promise<void> {
    const [s, other] = [randomUUID(), randomUUID()];
    if (c.existing > 0) {
      await t.store.append(s, Array.from({ length: c.existing }, (_, i) => ({ type: 'before', body: { i } })));
    }
    const holder = await client();
    const waiter = await client();
    await holder.query('begin');
    await holderWrites(holder, c.holder, s, 1, 'first');
    const pending = waitingInsert(
      waiter,
      c.rows.map((row) => (row === 'S' ? s : other)),
    ).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    await waitForLockWaiters(admin, 1);
    await holderWrites(holder, c.holder, s, 2, 'meanwhile');
    await holder.query(c.outcome);
    const outcome = await withDeadline('the waiting insert', pending);
    if ('error' in outcome) throw outcome.error;

    const held = c.outcome === 'commit' ? 3 : 0;
    const waited = c.rows.filter((row) => row === 'S').length;
    const rows = await expectGapless(s, c.existing + held + waited);
    const bodies = await t.store.query<{ version: number; by: string; i: string }>(
      `select version::int as version, body ->> 'by' as by, body ->> 'i' as i from ${SCHEMA}.events where uuid = $1 order by version`,
      [s],
    );
    expect(bodies.slice(c.existing, c.existing + held).every((row) => row.by === 'holder')).toBe(true);
    const waiterRows = bodies.slice(c.existing + held);
    expect(waiterRows.every((row) => row.by === 'waiter')).toBe(true);
    expect(waiterRows.map((row) => Number(row.i))).toEqual(
      c.rows.flatMap((row, index) => (row === 'S' ? [index + 1] : [])),
    );
    if (held > 0) {
      const holderLast = rows[c.existing + held - 1]!.position;
      expect(rows.slice(c.existing + held).every((row) => row.position > holderLast)).toBe(true);
    }
    const others = c.rows.filter((row) => row === 'T').length;
    if (others > 0) await expectGapless(other, others);
  }

  const insertShapes: ('S' | 'T')[][] = [['S'], ['S', 'S'], ['S', 'T', 'S']];
  const holders: Holder[] = ['plain insert', 'append_events'];
  const cases = (existing: number, outcome: WaitCase['outcome']) =>
    holders.flatMap((holder) =>
      insertShapes.map((rows) => ({ existing, holder, outcome, rows, shape: rows.join(''), stream: existing ? 'an existing stream' : 'a new stream' })),
    );

  describe('a plain INSERT that waits for the stream’s lock', () => {
    it.each(cases(2, 'commit'))(
      'takes the versions after every event of a writer ($holder) that appended meanwhile and committed (insert $shape)',
      async (c) => {
        await raceWaitingInsert(c);
      },
    );

    it.each(cases(0, 'commit'))(
      'takes the versions after a writer ($holder) that created the stream and committed while it waited (insert $shape)',
      async (c) => {
        await raceWaitingInsert(c);
      },
    );

    it.each([...cases(0, 'rollback'), ...cases(2, 'rollback')])(
      'takes the versions after the committed ones when the writer ($holder) of $stream rolls back (insert $shape)',
      async (c) => {
        await raceWaitingInsert(c);
      },
    );
  });

  describe('a forged pgevents.assign_pgevents setting', () => {
    let forger: EventStore;
    beforeAll(async () => {
      // One connection, so that a session-level setting stays with every statement of the forger.
      forger = await openEventStore({ url, poolSize: 1 });
    });
    afterAll(async () => {
      await forger?.close();
    });

    type Forge = (stream: string, rows: StreamRow[]) => string;
    const forgeries: [string, Forge][] = [
      ['a version behind the stream', (s, rows) => `${s}/1/${rows[0]!.position}`],
      ['a version ahead of the stream', (s, rows) => `${s}/${rows.length + 5}/${rows.at(-1)!.position}`],
      ['the right version with a position behind the stream', (s, rows) => `${s}/${rows.length}/1`],
      ['the right version with a position ahead of the sequence', (s, rows) => `${s}/${rows.length}/999999999999`],
      ['version 0', (s) => `${s}/0/0`],
    ];
    const scopes = [
      { scope: 'session', local: false },
      { scope: 'transaction', local: true },
    ];
    const forgeCases = scopes.flatMap((scope) => forgeries.map(([what, forge]) => ({ ...scope, what, forge })));

    it.each(forgeCases)('never stores a gap or a duplicate version: $scope-level, $what', async ({ local, forge }) => {
      const stream = randomUUID();
      await t.store.append(stream, [1, 2, 3].map((i) => ({ type: 'before', body: { i } })));
      const forged = forge(stream, await storedStream(t.store, stream));
      const insert = `insert into ${SCHEMA}.events (type, uuid, body) values ('forged', $1, '{}')`;

      let outcome: unknown;
      try {
        if (local) {
          await forger.transaction(async (tx) => {
            await tx.query(`select set_config('pgevents.assign_${SCHEMA}', $1, true)`, [forged]);
            await tx.query(insert, [stream]);
          });
        } else {
          await forger.query(`select set_config('pgevents.assign_${SCHEMA}', $1, false)`, [forged]);
          // Twice: the session's setting outlives the first statement's transaction.
          for (let attempt = 0; attempt < 2; attempt++) {
            try {
              await forger.query(insert, [stream]);
            } catch (error) {
              outcome ??= error;
            }
          }
        }
      } catch (error) {
        outcome = error;
      } finally {
        await forger.query(`select set_config('pgevents.assign_${SCHEMA}', '', false)`);
      }

      if (outcome !== undefined) {
        expect(outcome).toBeInstanceOf(PgEventsError);
        expect(outcome instanceof ConcurrencyError || outcome instanceof InvalidEventError).toBe(true);
      }
      const rows = await storedStream(t.store, stream);
      expect(rows.length).toBeGreaterThanOrEqual(3);
      await expectGapless(stream, rows.length);
      // Once the setting is gone, the next plain insert takes the next version.
      await forger.query(insert, [stream]);
      await expectGapless(stream, rows.length + 1);
    });

    it('does not let a forged (right) setting skip the lock past a concurrent writer’s uncommitted event', async () => {
      for (const outcome of ['commit', 'rollback'] as const) {
        const stream = randomUUID();
        await t.store.append(stream, [1, 2, 3].map((i) => ({ type: 'before', body: { i } })));
        const rows = await storedStream(t.store, stream);
        const holder = await client();
        await holder.query('begin');
        await holderWrites(holder, 'plain insert', stream, 1, 'uncommitted');

        const forged = forger.transaction(async (tx) => {
          await tx.query(`select set_config('pgevents.assign_${SCHEMA}', $1, true)`, [`${stream}/3/${rows.at(-1)!.position}`]);
          await tx.query(`insert into ${SCHEMA}.events (type, uuid, body) values ('forged', $1, '{}')`, [stream]);
        });
        const settled = forged.then(
          () => undefined,
          (error: unknown) => error,
        );
        await waitForLockWaiters(admin, 1);
        await holder.query(outcome);
        const error = await withDeadline('the forged insert', settled);
        if (error !== undefined) expect(error).toBeInstanceOf(ConcurrencyError);
        const stored = await storedStream(t.store, stream);
        await expectGapless(stream, stored.length);
        expect(stored.length).toBe((outcome === 'commit' ? 4 : 3) + (error === undefined ? 1 : 0));
      }
    });
  });

  describe('import_events next to plain INSERTs and appends', () => {
    const STREAMS = 16;
    const ROUNDS = 12;
    let stores: EventStore[];

    beforeAll(async () => {
      stores = await openStores(url, 4, 1);
    });
    afterAll(async () => {
      await closeAll(stores ?? []);
    });

    interface Planned {
      writer: string;
      op: number;
      stream: string;
      i: number;
    }

    it('keeps every stream gapless, with positions following versions and streams.version at the last version', async () => {
      const streams = Array.from({ length: STREAMS }, () => randomUUID());
      for (const stream of streams.slice(0, STREAMS / 2)) await t.store.append(stream, [{ type: 'seeded', body: {} }]);
      const committed: Planned[] = [];

      /** A random interleaving of 1–3 events for each of 2–6 random streams. */
      function plan(writer: string, op: number): Planned[] {
        const chosen = shuffled(streams).slice(0, 2 + Math.floor(Math.random() * 5));
        const rows = shuffled(chosen.flatMap((stream) => Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => stream)));
        const seen = new Map<string, number>();
        return rows.map((stream) => {
          const i = (seen.get(stream) ?? 0) + 1;
          seen.set(stream, i);
          return { writer, op, stream, i };
        });
      }
      const body = (row: Planned) => JSON.stringify({ w: row.writer, op: row.op, i: row.i });

      async function withRetries(run: () => Promise<void>): Promise<void> {
        for (let attempt = 1; ; attempt++) {
          try {
            await run();
            return;
          } catch (error) {
            if (!isRetryable(error) || attempt >= 25) throw error;
          }
        }
      }

      async function importer(name: string): Promise<void> {
        const c = await client();
        for (let op = 0; op < ROUNDS; op++) {
          const rows = plan(name, op);
          await withRetries(async () => {
            try {
              await c.query('begin');
              await c.query(
                'create temporary table import_source (ord bigint, uuid uuid, type text, body jsonb, metadata jsonb, event_id uuid) on commit drop',
              );
              await c.query(
                `insert into import_source (ord, uuid, type, body)
                 select r.ord, r.stream, 'imported', r.body from unnest($1::uuid[], $2::jsonb[]) with ordinality r(stream, body, ord)`,
                [rows.map((row) => row.stream), rows.map(body)],
              );
              const { rows: result } = await c.query<{ imported: string; skipped: string }>(
                `select imported::text, skipped::text from ${SCHEMA}.import_events('pg_temp.import_source')`,
              );
              expect(result).toEqual([{ imported: String(rows.length), skipped: '0' }]);
              await c.query('commit');
            } catch (error) {
              await c.query('rollback').catch(() => undefined);
              throw error;
            }
          });
          committed.push(...rows);
        }
      }

      async function inserter(name: string): Promise<void> {
        const c = await client();
        for (let op = 0; op < ROUNDS; op++) {
          const rows = plan(name, op);
          await withRetries(async () => {
            await c.query(
              `insert into ${SCHEMA}.events (type, uuid, body)
               select 'inserted', r.stream, r.body from unnest($1::uuid[], $2::jsonb[]) with ordinality r(stream, body, ord) order by r.ord`,
              [rows.map((row) => row.stream), rows.map(body)],
            );
          });
          committed.push(...rows);
        }
      }

      async function appender(name: string, store: EventStore): Promise<void> {
        for (let op = 0; op < ROUNDS; op++) {
          const stream = streams[Math.floor(Math.random() * streams.length)]!;
          const rows = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, (_, index) => ({ writer: name, op, stream, i: index + 1 }));
          // A one-stream append can be the victim of a deadlock between multi-stream writers it queues with.
          await withRetries(async () => {
            await store.append(stream, rows.map((row) => ({ type: 'appended', body: JSON.parse(body(row)) as Record<string, unknown> })));
          });
          committed.push(...rows);
        }
      }

      await withDeadline(
        'the concurrent writers',
        Promise.all([
          ...['import-1', 'import-2', 'import-3'].map(importer),
          ...['insert-1', 'insert-2', 'insert-3'].map(inserter),
          ...stores.map((store, index) => appender(`append-${index + 1}`, store)),
        ]),
        120_000,
      );

      for (const [index, stream] of streams.entries()) {
        const expected = committed.filter((row) => row.stream === stream).length + (index < STREAMS / 2 ? 1 : 0);
        await expectGapless(stream, expected);
      }
      // Each operation's events of a stream got consecutive versions, in the operation's order.
      const [broken] = await t.store.query<{ n: number }>(
        `select count(*)::int as n from (
           select e.uuid, e.body ->> 'w' as w, e.body ->> 'op' as op,
                  max(e.version) - min(e.version) + 1 = count(*) as consecutive,
                  array_agg((e.body ->> 'i')::int order by e.version) = array_agg((e.body ->> 'i')::int order by (e.body ->> 'i')::int) as ordered
             from ${SCHEMA}.events e
            where e.uuid = any($1::uuid[]) and e.body ? 'w'
            group by 1, 2, 3) g
          where not (g.consecutive and g.ordered)`,
        [streams],
      );
      expect(broken!.n).toBe(0);
    }, 180_000);
  });

  describe('REPEATABLE READ and SERIALIZABLE inserts', () => {
    type Isolation = 'repeatable read' | 'serializable';
    const isolations: Isolation[] = ['repeatable read', 'serializable'];

    /** A transaction at `isolation` whose plain INSERT into `stream` runs once `ready` resolves. */
    function isolatedInsert(isolation: Isolation, stream: string, ready: Promise<void>, snapshotTaken: () => void) {
      return t.store
        .transaction(async (tx) => {
          await tx.query(`set transaction isolation level ${isolation}`);
          await tx.query(`select count(*) from ${SCHEMA}.events`);
          snapshotTaken();
          await ready;
          await tx.query(`insert into ${SCHEMA}.events (type, uuid, body) values ('isolated', $1, '{}')`, [stream]);
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
    }

    for (const isolation of isolations) {
      for (const existing of [2, 0]) {
        const what = existing ? 'appended to the stream' : 'created the stream';
        it(`fails with a serialization failure when it waited for a writer that ${what} and committed (${isolation})`, async () => {
          const stream = randomUUID();
          if (existing) await t.store.append(stream, [{ type: 'before', body: {} }, { type: 'before', body: {} }]);
          const holder = await client();
          await holder.query('begin');
          await holderWrites(holder, 'plain insert', stream, 1, 'first');
          const error = isolatedInsert(isolation, stream, Promise.resolve(), () => undefined);
          await waitForLockWaiters(admin, 1);
          await holderWrites(holder, 'plain insert', stream, 1, 'meanwhile');
          await holder.query('commit');
          const failure = await withDeadline('the isolated insert', error);
          expect(codeOf(failure)).toBe('40001');
          await expectGapless(stream, existing + 2);
        });

        it(`fails with a serialization failure when a writer that ${what} committed after its snapshot (${isolation})`, async () => {
          const stream = randomUUID();
          if (existing) await t.store.append(stream, [{ type: 'before', body: {} }, { type: 'before', body: {} }]);
          let snapshotTaken!: () => void;
          const taken = new Promise<void>((resolve) => {
            snapshotTaken = resolve;
          });
          let release!: () => void;
          const ready = new Promise<void>((resolve) => {
            release = resolve;
          });
          const error = isolatedInsert(isolation, stream, ready, snapshotTaken);
          await taken;
          await t.store.execScript(`insert into events (type, uuid, body) values ('committed', '${stream}', '{}')`);
          release();
          const failure = await withDeadline('the isolated insert', error);
          expect(codeOf(failure)).toBe('40001');
          await expectGapless(stream, existing + 1);
        });
      }

      it(`takes the next version when the writer it waited for rolls back (${isolation})`, async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'before', body: {} }, { type: 'before', body: {} }]);
        const holder = await client();
        await holder.query('begin');
        await holderWrites(holder, 'plain insert', stream, 2, 'rolled back');
        const error = isolatedInsert(isolation, stream, Promise.resolve(), () => undefined);
        await waitForLockWaiters(admin, 1);
        await holder.query('rollback');
        expect(await withDeadline('the isolated insert', error)).toBeUndefined();
        const rows = await expectGapless(stream, 3);
        expect(rows.at(-1)!.position).toBeGreaterThan(rows[1]!.position);
      });
    }
  });

  // Not committed: fails on 0006 (worked on 0005). The skipped row's BEFORE trigger already set
  // pgevents.assign_pgevents to <stream>/<its version>/…, so the next row of that stream takes the
  // version after a row that was never stored, and the AFTER trigger refuses the gap (PE001).
  describe('a multi-row plain INSERT … on conflict (event_id) do nothing', () => {
    it('skips a stored event id and gives the next row of the same stream the next version', async () => {
      const stream = randomUUID();
      const stored = randomUUID();
      await t.store.append(stream, [{ type: 'before', body: {}, id: stored }]);
      await t.store.query(
        `insert into ${SCHEMA}.events (type, uuid, body, event_id)
         values ('again', $1, '{}', $2), ('new', $1, '{}', gen_random_uuid())
         on conflict (event_id) do nothing`,
        [stream, stored],
      );
      await expectGapless(stream, 2);
    });
  });

  describe('COPY', () => {
    it('assigns gapless versions per stream in file order to 20,000 events over 2,000 interleaved streams', async () => {
      const STREAM_COUNT = 2000;
      const EVENTS = 20_000;
      const streams = Array.from({ length: STREAM_COUNT }, () => randomUUID());
      // A few streams have history already: their copied events continue it.
      for (const stream of streams.slice(0, 5)) await t.store.append(stream, [{ type: 'before', body: {} }]);
      const lines = function* () {
        for (let line = 0; line < EVENTS; line++) {
          yield `${streams[line % STREAM_COUNT]}\tcopied\t{"line": ${line}}\n`;
        }
      };
      const c = await client();
      await pipeline(Readable.from(lines()), c.query(copyFrom(`copy ${SCHEMA}.events (uuid, type, body) from stdin`)));

      const [check] = await t.store.query<Record<string, number>>(
        `with copied as (
           select e.uuid, e.version, e.id, (e.body ->> 'line')::int as line
             from ${SCHEMA}.events e where e.uuid = any($1::uuid[]) and e.type = 'copied'
         ), history as (
           select e.uuid, count(*) filter (where e.type = 'before') as before
             from ${SCHEMA}.events e where e.uuid = any($1::uuid[]) group by e.uuid
         ), ordered as (
           select c.*, h.before,
                  h.before + row_number() over (partition by c.uuid order by c.line) as by_line,
                  h.before + row_number() over (partition by c.uuid order by c.id) as by_position
             from copied c join history h using (uuid)
         )
         select count(*)::int as events,
                count(distinct o.uuid)::int as streams,
                count(*) filter (where o.version <> o.by_line)::int as out_of_file_order,
                count(*) filter (where o.version <> o.by_position)::int as out_of_position_order,
                count(*) filter (where s.version <> o.before + $2)::int as wrong_recorded
           from ordered o join ${SCHEMA}.streams s on s.stream = o.uuid`,
        [streams, EVENTS / STREAM_COUNT],
      );
      expect(check).toEqual({ events: EVENTS, streams: STREAM_COUNT, out_of_file_order: 0, out_of_position_order: 0, wrong_recorded: 0 });
      for (const stream of streams.slice(0, 7)) {
        const expected = EVENTS / STREAM_COUNT + (streams.indexOf(stream) < 5 ? 1 : 0);
        await expectGapless(stream, expected);
      }
    }, 120_000);
  });

});
