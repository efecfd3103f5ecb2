import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/index.js';
import { server, type TestStore } from '../support/engines.js';
import { closeAll, createPool, openStores, waitFor, waitForLockWaiters, withDeadline } from '../support/race-helpers.js';

// 100k events, one ledger row each: a full replay of them takes seconds, and it used to hold
// TRUNCATE's ACCESS EXCLUSIVE lock on the ledger all that time.
const STREAMS = 1_000;
const PER_STREAM = 100;
const EVENTS = STREAMS * PER_STREAM;
const READ_EVERY_MS = 100;
/** Reads made while the replay is held in the middle of its transaction. */
const GATED_READS = 5;

// The replay is held mid-transaction, deterministically: past the position named in replay_gate,
// the ledger's handler waits for an advisory lock (key 4242, 1) that the test holds. The live
// trigger never waits: replay_gate names no position until the test closes the gate.
// vacuum_truncate = false: autovacuum, which may come by at any time after the 100k-row update,
// must not take its short ACCESS EXCLUSIVE lock to cut off empty pages; only the replay's locks
// are under test.
const LEDGER_SQL = `
  create table public.ledger (
    id bigint generated always as identity primary key,
    position bigint not null unique,
    uuid uuid not null,
    amount int not null,
    state text not null default 'built'
  ) with (vacuum_truncate = false);
  create table public.replay_gate (after_position bigint);
  insert into public.replay_gate values (null);
  create function public.ledger_apply(p_events pgevents.events[]) returns void
  language plpgsql set search_path = public, pg_temp
  as $$
  begin
    insert into ledger (position, uuid, amount)
    select e.id, e.uuid, (e.body ->> 'amount')::int from unnest(p_events) e order by e.id;
    perform pg_advisory_xact_lock_shared(4242, 1)
       from replay_gate g
      where g.after_position < (select max(e.id) from unnest(p_events) e);
  end;
  $$;
`;

/** One statement, one snapshot: the ledger's rows, and how many of them are the previous ones. */
const READ_SQL = `select count(*)::int as rows, count(*) filter (where state = 'previous')::int as previous from public.ledger`;

/** The ledger's identity and positions in one value, to compare a replay with the first build. */
const LEDGER_DIGEST_SQL = `
  select count(*)::int as rows, md5(string_agg(id || ':' || position, ',' order by id)) as digest from public.ledger`;

type Phase = 'before' | 'gated' | 'released' | 'committed';

interface Read {
  startedIn: Phase;
  endedIn: Phase;
  rows?: number;
  previous?: number;
  error?: { code: unknown; message: string };
}

/**
 * Reads the ledger every 100 ms on a connection of its own with lock_timeout = 100ms: a read that
 * would wait longer than that for a lock fails with 55P03, whatever the machine's speed.
 */
function startReader(url: string, phase: () => Phase) {
  const reads: Read[] = [];
  const stop = { stopped: false };
  const done = (async () => {
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query(`set lock_timeout = '100ms'`);
      while (!stop.stopped) {
        const startedIn = phase();
        try {
          const { rows } = await client.query<{ rows: number; previous: number }>(READ_SQL);
          reads.push({ startedIn, endedIn: phase(), ...rows[0]! });
        } catch (error) {
          const { code, message } = error as { code?: unknown; message: string };
          reads.push({ startedIn, endedIn: phase(), error: { code, message } });
        }
        await delay(READ_EVERY_MS);
      }
    } finally {
      await client.end();
    }
  })();
  return { reads, stop, done };
}

describe.skipIf(server.unavailable !== null)('readers during a full replay (server)', () => {
  let t: TestStore;
  let admin: pg.Pool;
  let gate: pg.Client;
  let others: EventStore[] = [];
  let firstBuild: { rows: number; digest: string };

  beforeAll(async () => {
    t = await server.createStore();
    await t.store.execScript(LEDGER_SQL);
    await t.store.defineProjection({
      name: 'ledger',
      handlers: { ledger_entry: 'public.ledger_apply' },
      tables: ['public.ledger'],
      streamColumn: 'uuid',
    });
    // The live trigger builds the ledger the first time, 100 streams per INSERT.
    for (let loaded = 0; loaded < STREAMS; loaded += 100) {
      await t.store.execScript(`
        create temporary table new_streams as select gen_random_uuid() as stream from generate_series(1, 100);
        insert into pgevents.events (uuid, type, body)
        select s.stream, 'ledger_entry', jsonb_build_object('amount', v)
          from new_streams s, generate_series(1, ${PER_STREAM}) v
         order by s.stream, v;
        drop table new_streams;`);
    }
    [firstBuild] = (await t.store.query<{ rows: number; digest: string }>(LEDGER_DIGEST_SQL)) as [{ rows: number; digest: string }];
    admin = createPool(t.url!, 3);
    gate = new pg.Client({ connectionString: t.url! });
    gate.on('error', () => undefined);
    await gate.connect();
    others = await openStores(t.url!, 1);
  }, 120_000);
  afterAll(async () => {
    await gate?.end();
    await admin?.end();
    await closeAll(others);
    await t?.dispose();
  });

  /** Holds the gate: the next replay waits in its handler once it is past the middle of the events. */
  async function closeGate(): Promise<void> {
    await gate.query('select pg_advisory_lock(4242, 1)');
    await t.store.query(
      `update public.replay_gate set after_position = (select id from pgevents.events order by id offset ${EVENTS / 2} limit 1)`,
    );
  }

  /** Lets a replay held at the gate go on (and does nothing when the gate is open). */
  async function openGate(): Promise<void> {
    await gate.query('select pg_advisory_unlock_all()');
    await t.store.query('update public.replay_gate set after_position = null');
  }

  /** The backend of the replay once it waits at the gate, in the middle of its transaction. */
  function waitForGatedReplay(): Promise<number> {
    return waitFor(
      'the replay to wait at the gate',
      async () => {
        const { rows } = await admin.query<{ pid: number }>(
          `select l.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where l.locktype = 'advisory' and l.classid = 4242 and l.objid = 1 and l.objsubid = 2 and not l.granted
              and a.query like '%replay_step%'`,
        );
        return rows[0]?.pid;
      },
      60_000,
    );
  }

  it('lets readers read the previous rows without waiting while it runs, and the replayed rows once it commits', async () => {
    expect(firstBuild.rows).toBe(EVENTS);
    await t.store.query(`update public.ledger set state = 'previous'`);
    let phase: Phase = 'before';
    const reader = startReader(t.url!, () => phase);
    await closeGate();
    let replaying: Promise<unknown> | undefined;
    try {
      replaying = t.store.replay('ledger', { batchSize: 5000 });
      const replayer = await waitForGatedReplay();
      phase = 'gated';
      // Past its clearing: the replay holds the ledger, but no lock a reader would wait for.
      const { rows: held } = await admin.query<{ mode: string }>(
        `select mode from pg_locks where pid = $1 and relation = 'public.ledger'::regclass`,
        [replayer],
      );
      expect(held.map((lock) => lock.mode)).toContain('RowExclusiveLock');
      expect(held.map((lock) => lock.mode)).not.toContain('AccessExclusiveLock');
      await waitFor(
        `${GATED_READS} reads while the replay is held`,
        async () => reader.reads.filter((read) => read.startedIn === 'gated' && read.endedIn === 'gated').length >= GATED_READS,
        30_000,
      );
      phase = 'released';
      await openGate();
      await withDeadline('the replay', replaying, 120_000);
      phase = 'committed';
      await waitFor('2 reads after the replay committed', async () => reader.reads.filter((read) => read.startedIn === 'committed').length >= 2);
    } finally {
      reader.stop.stopped = true;
      await reader.done;
      await openGate();
      await replaying?.catch(() => undefined);
    }

    expect(reader.reads.filter((read) => read.error)).toEqual([]);
    const previous = { rows: EVENTS, previous: EVENTS };
    const replayed = { rows: EVENTS, previous: 0 };
    const states = reader.reads.map(({ rows, previous: stillPrevious }) => ({ rows, previous: stillPrevious }));
    // Every read saw one complete state: all the previous rows, or all the replayed ones, never a
    // mix, an empty ledger or a part of it; and once the replayed rows showed, they stayed.
    for (const state of states) expect([previous, replayed]).toContainEqual(state);
    const firstReplayed = states.findIndex((state) => state.previous === 0);
    expect(firstReplayed).toBeGreaterThan(0);
    expect(states.slice(firstReplayed)).toEqual(states.slice(firstReplayed).map(() => replayed));
    const during = reader.reads.filter((read) => read.startedIn === 'gated' && read.endedIn === 'gated');
    expect(during.length).toBeGreaterThanOrEqual(GATED_READS);
    for (const read of during) expect({ rows: read.rows, previous: read.previous }).toEqual(previous);
    for (const read of reader.reads.filter((r) => r.startedIn === 'committed')) {
      expect({ rows: read.rows, previous: read.previous }).toEqual(replayed);
    }
    // The replay numbered the rows as the first build did: identity restarted, positions in order.
    expect((await t.store.query(LEDGER_DIGEST_SQL))[0]).toEqual(firstBuild);
  }, 180_000);

  it('makes an append of a handled type wait for it and applies it once, numbered after the replayed rows', async () => {
    const [writer] = others as [EventStore];
    const stream = randomUUID();
    await closeGate();
    let replaying: Promise<unknown> | undefined;
    let appending: Promise<unknown> | undefined;
    try {
      replaying = t.store.replay('ledger', { batchSize: 5000 });
      await waitForGatedReplay();
      appending = writer.append(stream, [{ type: 'ledger_entry', body: { amount: 7 } }]);
      // The replay waits at the gate, the append for the replay's projection lock.
      await waitForLockWaiters(admin, 2);
      // Appends of types the projection does not handle go on.
      await withDeadline('an append of another type', writer.append(randomUUID(), [{ type: 'not_ledger', body: {} }]));
      await openGate();
      await withDeadline('the replay', replaying, 120_000);
      await withDeadline('the append', appending);
    } finally {
      await openGate();
      await replaying?.catch(() => undefined);
      await appending?.catch(() => undefined);
    }

    const rows = await t.store.query<{ id: number; n: number }>(
      'select id::int as id, (select count(*)::int from public.ledger) as n from public.ledger where uuid = $1',
      [stream],
    );
    expect(rows).toEqual([{ id: EVENTS + 1, n: EVENTS + 1 }]);
    await t.store.replay('ledger');
    expect((await t.store.query(`select count(*)::int as n, max(id)::int as max from public.ledger`))[0]).toEqual({
      n: EVENTS + 1,
      max: EVENTS + 1,
    });
  }, 180_000);
});
