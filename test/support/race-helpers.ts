import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { type EventStore, openEventStore } from '../../src/index.js';
import { adminUrl, databaseUrl } from './server-url.js';

const POLL_INTERVAL_MS = 10;
/**
 * How long a wait for a state lasts before it fails: a safety net against a hang, never what makes
 * a test pass, so generous enough for a machine loaded by other work (and shorter than a test's
 * 60 s timeout, so that the failure names what was waited for).
 */
const DEFAULT_WAIT_MS = 30_000;

/**
 * Polls `check` until it returns something other than `undefined` or `false`, and returns that;
 * fails with `what` once the deadline has passed. The way race tests wait: on a condition, never
 * on a fixed delay.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = DEFAULT_WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result !== undefined && result !== false) return result;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(POLL_INTERVAL_MS);
  }
}

/** Resolves as `promise` does, or fails with `what` when it has not settled within the deadline. */
export async function withDeadline<T>(what: string, promise: Promise<T>, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Connections to the pool's database that wait for a heavyweight lock (row, transaction, advisory, relation). */
export async function lockWaiters(admin: pg.Pool): Promise<number> {
  const { rows } = await admin.query<{ waiting: number }>(
    `select count(*)::int as waiting
       from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
  );
  return rows[0]?.waiting ?? 0;
}

/** Waits until at least `count` connections of the pool's database wait for a lock. */
export function waitForLockWaiters(admin: pg.Pool, count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<number> {
  return waitFor(
    `${count} connections waiting for a lock`,
    async () => {
      const waiting = await lockWaiters(admin);
      return waiting >= count ? waiting : undefined;
    },
    timeoutMs,
  );
}

/** A pool of its own on the test database; errors of idle clients are ignored, as the store does. */
export function createPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => undefined);
  return pool;
}

/** A transaction that holds a stream's row in `streams`, so that every writer of the stream queues behind it. */
export interface StreamGate {
  /** Ends the transaction without changing anything: the queued writers race for the stream. */
  open(): Promise<void>;
}

/**
 * Holds the lock every writer of `stream` takes first: the stream's row in `<schema>.streams`, or,
 * for a stream that does not exist yet, an uncommitted row of its own at version 0 (so that new
 * writers wait on its unique key). Releasing it lets all queued writers go at the same instant.
 */
export async function closeStreamGate(url: string, stream: string, schema = 'pgevents'): Promise<StreamGate> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('begin');
  const { rowCount } = await client.query(`select 1 from ${schema}.streams where stream = $1 for update`, [stream]);
  if (!rowCount) await client.query(`insert into ${schema}.streams (stream, version) values ($1, 0)`, [stream]);
  return {
    async open() {
      try {
        await client.query('rollback');
      } finally {
        await client.end();
      }
    },
  };
}

/** Opens `count` extra stores (each with a pool of its own) on the database at `url`. */
export function openStores(url: string, count: number, poolSize = 2): Promise<EventStore[]> {
  return Promise.all(Array.from({ length: count }, () => openEventStore({ url, poolSize })));
}

export async function closeAll(stores: EventStore[]): Promise<void> {
  await Promise.all(stores.map((store) => store.close()));
}

/** Runs `fn` and returns what it threw (or fails when it did not throw). */
export async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

export interface StreamRow {
  version: number;
  position: number;
}

/** The stream's events as stored, in version order, with integers normalised. */
export async function storedStream(store: EventStore, stream: string): Promise<StreamRow[]> {
  const rows = await store.query<{ version: number; position: string }>(
    `select version::int as version, id::text as position from ${store.schema}.events where uuid = $1 order by version`,
    [stream],
  );
  return rows.map((row) => ({ version: row.version, position: Number(row.position) }));
}

/** 1, 2, …, n. */
export function oneTo(n: number): number[] {
  return Array.from({ length: n }, (_, index) => index + 1);
}

/** Whether the positions, taken in version order, increase strictly. */
export function positionsFollowVersions(rows: StreamRow[]): boolean {
  return rows.every((row, index) => index === 0 || row.position > rows[index - 1]!.position);
}

/** Creates an empty database (from template1, no pgevents schema); returns its name and url. */
export async function createEmptyDatabase(): Promise<{ name: string; url: string }> {
  const name = `pgevents_race_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  return { name, url: databaseUrl(name) };
}

/**
 * The read model the race tests use: `stream_counts` counts the handled events per stream with an
 * upsert, and `events_seen` records each applied event by position under a primary key, so that
 * applying an event twice fails loudly instead of counting it twice. The handler refuses events
 * whose body has `"fail": true` and events of streams listed in `failing_streams`.
 */
export const COUNTING_PROJECTION_SQL = `
  create table public.stream_counts (
    uuid uuid primary key,
    n int not null
  );
  create table public.events_seen (
    position bigint primary key,
    uuid uuid not null,
    version bigint not null
  );
  create table public.failing_streams (
    uuid uuid primary key
  );
  create function public.count_event(p_event pgevents.events) returns void
  language plpgsql
  set search_path = public, pg_temp
  as $$
  begin
    if (p_event.body ->> 'fail') = 'true'
       or exists (select 1 from failing_streams f where f.uuid = p_event.uuid) then
      raise exception 'refused by the race test (stream %)', p_event.uuid;
    end if;
    insert into events_seen (position, uuid, version) values (p_event.id, p_event.uuid, p_event.version);
    insert into stream_counts as c (uuid, n) values (p_event.uuid, 1)
    on conflict (uuid) do update set n = c.n + 1;
  end;
  $$;
`;

/** The event types the counting projection handles. */
export const COUNTED_TYPES = ['counted_a', 'counted_b'];

/** Creates the counting read model and defines it as the trigger projection `counting`. */
export async function defineCountingProjection(store: EventStore): Promise<void> {
  await store.execScript(COUNTING_PROJECTION_SQL);
  await store.defineProjection({
    name: 'counting',
    handlers: Object.fromEntries(COUNTED_TYPES.map((type) => [type, 'public.count_event'])),
    tables: ['public.stream_counts', 'public.events_seen'],
    streamColumn: 'uuid',
  });
}

export interface ReadModelCheck {
  /** stream → n, as the read model has it. */
  counts: Record<string, number>;
  /** stream → number of handled events, from the events table. */
  expected: Record<string, number>;
  /** Positions in events_seen that are not handled events, and handled events missing from it. */
  strayPositions: number[];
  missingPositions: number[];
}

/** Compares the counting read model with the events table. */
export async function checkReadModel(store: EventStore): Promise<ReadModelCheck> {
  const toRecord = (rows: { uuid: string; n: number }[]) => Object.fromEntries(rows.map((row) => [row.uuid, row.n]));
  const counts = await store.query<{ uuid: string; n: number }>('select uuid::text, n from public.stream_counts');
  const expected = await store.query<{ uuid: string; n: number }>(
    `select uuid::text, count(*)::int as n from ${store.schema}.events where type = any($1) group by uuid`,
    [COUNTED_TYPES],
  );
  const stray = await store.query<{ position: string }>(
    `select s.position::text from public.events_seen s
      where not exists (select 1 from ${store.schema}.events e where e.id = s.position and e.type = any($1))`,
    [COUNTED_TYPES],
  );
  const missing = await store.query<{ position: string }>(
    `select e.id::text as position from ${store.schema}.events e
      where e.type = any($1) and not exists (select 1 from public.events_seen s where s.position = e.id)`,
    [COUNTED_TYPES],
  );
  return {
    counts: toRecord(counts),
    expected: toRecord(expected),
    strayPositions: stray.map((row) => Number(row.position)),
    missingPositions: missing.map((row) => Number(row.position)),
  };
}
