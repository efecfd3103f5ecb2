/**
 * The growth mode (issue 13): pgevents in stores that already hold N events, against the same
 * measurements in an empty store. For each size: a fresh database with pgevents and the users
 * projection, filled to N events by `import_events` (the store's own bulk path: every check, the
 * stream versions and the projection's trigger apply) from a staging table that one
 * `INSERT … SELECT generate_series` fills, then `VACUUM ANALYZE`; then
 *   (a) one-event `append_events` calls, sequential and from 8 connections (as the seq1 and conc8
 *       modes: warm-up, interleaved runs, the stored events and users checked afterwards);
 *   (b) `readStream` latency of random existing 10-event streams (TS API);
 *   (c) a new subscription catching up with the last K events (imported after the fill);
 *   (d) `replay_projection('users')` and the online rebuild through the set-based statement, over
 *       every stored event (reported per event, so that linearity shows as a flat µs/event);
 *   (e) the bytes of the events table and of each of its indexes after the fill.
 */
import pg from 'pg';
import { benchDatabaseName, checkpoint, dropDatabase, ignoreIdleErrors, recreateDatabase } from './db.js';
import { loadApi } from './pgevents-api.js';
import { AppendEventsWriter, connect } from './pg-writer.js';
import { countsPgevents, onlineRebuildPgevents, replayPgevents, SCHEMA, setupPgevents } from './pgevents-server.js';
import type { Cell } from './results.js';
import { Ledger, runAppendMode, verify, type Log } from './runner.js';
import { quantile } from './stats.js';
import { now } from './time.js';
import { MODE_INFO, type SystemUnderTest, type Timed } from './types.js';

/** Events per `import_events` call while filling: one transaction each. */
const FILL_CHUNK_EVENTS = 100_000;

export interface GrowthOptions {
  runs: number;
  runMs: number;
  warmupMs: number;
  eventsPerStream: number;
  catchUpEvents: number;
  reads: number;
  log: Log;
}

/** Sizes on disk after the fill and VACUUM ANALYZE, in bytes. */
export interface GrowthBytes {
  /** pg_relation_size of the events table (its heap; the bodies here are too small for TOAST). */
  table: number;
  /** pg_indexes_size of the events table. */
  indexes: number;
  /** pg_relation_size of each index of the events table. */
  index: Record<string, number>;
  /** pg_total_relation_size of the streams table (one row per stream, with its primary key). */
  streams: number;
}

export interface GrowthTimed {
  events: number;
  seconds: number;
}

/** One store size: what was measured (null where the step failed or did not run). */
export interface GrowthStore {
  /** Events stored before the measurements: the store's size. */
  size: number;
  streams: number;
  fill: { seconds: number; vacuumSeconds: number } | null;
  bytes: GrowthBytes | null;
  append: { seq1: Cell; conc8: Cell } | null;
  readStream: { reads: number; streams: number; p50Ms: number; p99Ms: number; maxMs: number } | null;
  catchUp: GrowthTimed | null;
  replay: GrowthTimed | null;
  rebuild: GrowthTimed | null;
  errors: string[];
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const STAGING = 'pg_temp.growth_staging';

/**
 * Append `total` events to the store through `import_events`, FILL_CHUNK_EVENTS at a time: new
 * streams of `perStream` events (a user_create, then user_updates), the streams of a chunk
 * interleaved in the log the way a live log would interleave them.
 */
async function fill(client: pg.Client, total: number, perStream: number, log: Log, label: string): Promise<void> {
  await client.query(
    `create temp table if not exists growth_staging (ord bigint, uuid uuid, type text, body jsonb, metadata jsonb, event_id uuid)`,
  );
  const chunk = Math.max(perStream, Math.floor(FILL_CHUNK_EVENTS / perStream) * perStream);
  const start = now();
  let lastLog = start;
  for (let done = 0; done < total; ) {
    const streams = Math.min(chunk, total - done) / perStream;
    await client.query(`truncate ${STAGING}`);
    await client.query(
      `insert into ${STAGING} (ord, uuid, type, body)
       select k * $1::bigint + s.g, s.u,
              case when k = 0 then 'user_create' else 'user_update' end,
              jsonb_build_object('name', 'user ' || ($3::bigint + k * $1::bigint + s.g))
         from (select g, gen_random_uuid() as u from generate_series(1, $1::bigint) g offset 0) s
        cross join generate_series(0, $2::int - 1) k`,
      [streams, perStream, done],
    );
    const r = await client.query<{ imported: string; streams: string }>(
      `select imported, streams from ${SCHEMA}.import_events($1::regclass)`,
      [STAGING],
    );
    const imported = Number(r.rows[0]?.imported ?? 0);
    if (imported !== streams * perStream || Number(r.rows[0]?.streams ?? 0) !== streams) {
      throw new Error(`fill: import_events stored ${imported} events in ${r.rows[0]?.streams} streams, ${streams * perStream} in ${streams} given`);
    }
    done += imported;
    if (now() - lastLog > 15_000 && done < total) {
      lastLog = now();
      const seconds = (lastLog - start) / 1000;
      log(`    ${label}: ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} events, ${seconds.toFixed(0)} s (${Math.round(done / seconds).toLocaleString('en-US')} events/s)`);
    }
  }
  await client.query(`truncate ${STAGING}`);
}

async function measureBytes(client: pg.Client): Promise<GrowthBytes> {
  const total = await client.query<{ t: string; i: string; s: string }>(
    `select pg_relation_size('${SCHEMA}.events') as t, pg_indexes_size('${SCHEMA}.events') as i,
            pg_total_relation_size('${SCHEMA}.streams') as s`,
  );
  const each = await client.query<{ name: string; bytes: string }>(
    `select c.relname as name, pg_relation_size(c.oid) as bytes
       from pg_index x join pg_class c on c.oid = x.indexrelid
      where x.indrelid = '${SCHEMA}.events'::regclass
      order by c.relname`,
  );
  const row = total.rows[0]!;
  return {
    table: Number(row.t),
    indexes: Number(row.i),
    index: Object.fromEntries(each.rows.map((r) => [r.name, Number(r.bytes)])),
    streams: Number(row.s),
  };
}

/** The growth store as a system for the append modes' runner (append_events, its counts). */
function appendSystem(url: string): SystemUnderTest {
  return {
    id: 'pgevents_append',
    label: 'pgevents append_events',
    projects: true,
    unsupported: {},
    setup: async () => undefined,
    openWriter: async () => new AppendEventsWriter(await connect(url)),
    counts: () => countsPgevents(url),
    close: async () => undefined,
  };
}

async function checked(system: SystemUnderTest, ledger: Ledger, what: string): Promise<void> {
  const problem = await verify(system, ledger);
  if (problem) throw new Error(`${what}: ${problem}`);
}

function perEvent(t: Timed): GrowthTimed {
  return { events: t.events, seconds: t.seconds };
}

/** Measures one store size on a database of its own, dropped at the end. */
export async function measureGrowthStore(size: number, options: GrowthOptions): Promise<GrowthStore> {
  const { log, eventsPerStream: perStream } = options;
  const result: GrowthStore = {
    size,
    streams: size / perStream,
    fill: null,
    bytes: null,
    append: null,
    readStream: null,
    catchUp: null,
    replay: null,
    rebuild: null,
    errors: [],
  };
  const database = benchDatabaseName('growth');
  const label = `${size.toLocaleString('en-US')}-event store`;
  const url = await recreateDatabase(database);
  const admin = ignoreIdleErrors(new pg.Client({ connectionString: url }));
  let pool: pg.Pool | null = null;
  let store: Awaited<ReturnType<Awaited<ReturnType<typeof loadApi>>>> | null = null;
  const step = async (what: string, fn: () => Promise<void>): Promise<boolean> => {
    try {
      await fn();
      return true;
    } catch (error) {
      const message = `${label}: ${what}: ${errorMessage(error)}`;
      result.errors.push(message);
      log(`  ${message}`);
      return false;
    }
  };
  try {
    await setupPgevents(url);
    await admin.connect();
    const system = appendSystem(url);
    const ledger = new Ledger();
    const id = system.id;

    const filled = await step('fill', async () => {
      const start = now();
      await fill(admin, size, perStream, log, label);
      const fillSeconds = (now() - start) / 1000;
      const vacuumStart = now();
      await admin.query('vacuum analyze');
      result.fill = { seconds: fillSeconds, vacuumSeconds: (now() - vacuumStart) / 1000 };
      ledger.events = size;
      ledger.users = size / perStream;
      await checked(system, ledger, 'after the fill');
      result.bytes = await measureBytes(admin);
      const rate = fillSeconds > 0 ? Math.round(size / fillSeconds).toLocaleString('en-US') : '–';
      log(`  ${label}: filled in ${fillSeconds.toFixed(1)} s (${rate} events/s), VACUUM ANALYZE ${result.fill.vacuumSeconds.toFixed(1)} s; events table ${mib(result.bytes.table)}, its indexes ${mib(result.bytes.indexes)}`);
    });
    if (!filled) return result;

    await step('appends', async () => {
      const cells: Partial<Record<'seq1' | 'conc8', Cell>> = {};
      for (const mode of ['seq1', 'conc8'] as const) {
        log(`  ${label}: ${MODE_INFO[mode].title}, warm-up ${options.warmupMs / 1000} s, ${options.runs} × ${options.runMs / 1000} s`);
        const row = await runAppendMode({
          mode: MODE_INFO[mode],
          systems: [system],
          ledgers: new Map([[id, ledger]]),
          databases: new Map([[id, database]]),
          runs: options.runs,
          runMs: options.runMs,
          warmupMs: options.warmupMs,
          eventsPerStream: perStream,
          log,
        });
        const cell = row[id]!;
        if (cell.kind === 'error') throw new Error(`${mode}: ${cell.message}`);
        cells[mode] = cell;
      }
      result.append = { seq1: cells.seq1!, conc8: cells.conc8! };
    });

    const openEventStore = await loadApi();
    pool = ignoreIdleErrors(new pg.Pool({ connectionString: url, max: 4 }));
    store = await openEventStore({ pool });
    const api = store;

    await step('readStream', async () => {
      const sample = await admin.query<{ stream: string }>(
        `select stream::text as stream from ${SCHEMA}.streams where version = $1 order by random() limit $2`,
        [perStream, options.reads],
      );
      const streams = sample.rows.map((r) => r.stream);
      if (streams.length === 0) throw new Error(`no stream of ${perStream} events to read`);
      const read = async (stream: string): Promise<number> => {
        const t0 = now();
        const events = await api.readStream(stream);
        const ms = now() - t0;
        if (events.length !== perStream || events.some((e, i) => e.version !== i + 1 || e.stream !== stream)) {
          throw new Error(`readStream(${stream}) returned ${events.length} events (versions ${events.map((e) => e.version).join(',')}), ${perStream} stored`);
        }
        return ms;
      };
      // Unrecorded warm-up (connections, plans), on the sample taken from its end.
      for (let i = 0; i < Math.min(100, options.reads); i++) await read(streams[streams.length - 1 - (i % streams.length)]!);
      const latencies: number[] = [];
      for (let i = 0; i < options.reads; i++) latencies.push(await read(streams[i % streams.length]!));
      latencies.sort((a, b) => a - b);
      result.readStream = {
        reads: latencies.length,
        streams: streams.length,
        p50Ms: quantile(latencies, 0.5),
        p99Ms: quantile(latencies, 0.99),
        maxMs: latencies.at(-1)!,
      };
      log(`  ${label}: readStream of ${perStream}-event streams, ${latencies.length} reads of ${streams.length} streams: p50 ${result.readStream.p50Ms.toFixed(2)} ms, p99 ${result.readStream.p99Ms.toFixed(2)} ms, max ${result.readStream.maxMs.toFixed(1)} ms`);
    });

    await step('catch-up', async () => {
      const last = await admin.query<{ cursor: string | null }>(
        `select transaction_id::text || '-' || id as cursor from ${SCHEMA}.events order by transaction_id desc, id desc limit 1`,
      );
      const from = last.rows[0]?.cursor ?? 'start';
      await fill(admin, options.catchUpEvents, perStream, log, `${label}, catch-up events`);
      ledger.events += options.catchUpEvents;
      ledger.users += options.catchUpEvents / perStream;
      let delivered = 0;
      await checkpoint();
      const started = now();
      const reader = await api.subscribe({
        name: 'growth-catch-up',
        from,
        batchSize: 1000,
        handler: (events) => {
          delivered += events.length;
        },
      });
      await reader.caughtUp();
      const seconds = (now() - started) / 1000;
      await reader.stop();
      if (delivered !== options.catchUpEvents) throw new Error(`delivered ${delivered} events, ${options.catchUpEvents} stored after the cursor`);
      result.catchUp = { events: delivered, seconds };
      log(`  ${label}: subscription catch-up over the last ${delivered.toLocaleString('en-US')} events in ${seconds.toFixed(2)} s: ${Math.round(delivered / seconds).toLocaleString('en-US')} events/s`);
    });

    await step('replay', async () => {
      await checkpoint();
      const t = await replayPgevents(url);
      await checked(system, ledger, 'after the replay');
      result.replay = perEvent(t);
      log(`  ${label}: replay of ${t.events.toLocaleString('en-US')} events in ${t.seconds.toFixed(1)} s: ${((t.seconds * 1e6) / t.events).toFixed(2)} µs/event`);
    });

    await step('rebuild', async () => {
      await checkpoint();
      const t = await onlineRebuildPgevents(url);
      await checked(system, ledger, 'after the rebuild');
      result.rebuild = perEvent(t);
      log(`  ${label}: online rebuild (set-based statement) of ${t.events.toLocaleString('en-US')} events in ${t.seconds.toFixed(1)} s: ${((t.seconds * 1e6) / t.events).toFixed(2)} µs/event`);
    });
    return result;
  } catch (error) {
    result.errors.push(`${label}: ${errorMessage(error)}`);
    log(`  ${label}: ${errorMessage(error)}`);
    return result;
  } finally {
    await store?.close().catch(() => undefined);
    await pool?.end().catch(() => undefined);
    await admin.end().catch(() => undefined);
    await dropDatabase(database).catch((e: unknown) => log(`  dropping ${database}: ${errorMessage(e)}`));
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** The growth mode: one store per size, smallest first, one at a time. */
export async function measureGrowth(sizes: number[], options: GrowthOptions): Promise<GrowthStore[]> {
  const out: GrowthStore[] = [];
  for (const size of sizes) {
    options.log(`\n== growth: a store of ${size.toLocaleString('en-US')} events`);
    out.push(await measureGrowthStore(size, options));
  }
  return out;
}
