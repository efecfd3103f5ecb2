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
import { fmtCount } from './format.js';
import { quantile } from './stats.js';
import { now } from './time.js';
import { MODE_INFO, type SystemUnderTest, type Timed } from './types.js';

/** Events per `import_events` call while filling: one transaction each. */
const FILL_CHUNK_EVENTS = 100_000;
/**
 * Streams interleaved in the log while filling, as in the bulk load (bench/lib/workload.ts): each
 * block's creates, then their first updates, and so on. It matters to the replay: a batch of
 * 10,000 events then touches 1,000 users, as in the replay mode.
 */
const INTERLEAVED_STREAMS = 1000;

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
  /** The seq1 and conc8 modes' cells (events/s of the runs, CPU per event). */
  append: Partial<Record<'seq1' | 'conc8', Cell>>;
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
 * streams of `perStream` events (a user_create, then user_updates), INTERLEAVED_STREAMS at a time
 * interleaved in the log the way a live log would interleave them.
 */
export async function fill(client: pg.Client, total: number, perStream: number, log: Log, label: string): Promise<void> {
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
       select (s.g / $4) * $4 * $2 + k * $4 + s.g % $4, s.u,
              case when k = 0 then 'user_create' else 'user_update' end,
              jsonb_build_object('name', 'user ' || ($3::bigint + s.g * $2 + k))
         from (select g, gen_random_uuid() as u from generate_series(0, $1::bigint - 1) g offset 0) s
        cross join generate_series(0, $2::int - 1) k`,
      [streams, perStream, done, INTERLEAVED_STREAMS],
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

/** A growth store as a system for the append modes' runner: append_events, and its counts. */
function appendSystem(id: string, label: string, url: () => string): SystemUnderTest {
  return {
    id,
    label,
    projects: true,
    unsupported: {},
    setup: async () => undefined,
    openWriter: async () => new AppendEventsWriter(await connect(url())),
    counts: () => countsPgevents(url()),
    close: async () => undefined,
  };
}

async function checked(system: SystemUnderTest, ledger: Ledger, what: string): Promise<void> {
  const problem = await verify(system, ledger);
  if (problem) throw new Error(`${what}: ${problem}`);
}

/**
 * Wait until every stored event is below the server's oldest running transaction: readers see
 * events (and accept cursors) only there, and a transaction open elsewhere on the server — another
 * database's, too — holds them back. The catch-up is timed from there, so that it measures reading,
 * not someone else's transaction.
 */
async function untilSafe(client: pg.Client, timeoutMs: number): Promise<void> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const r = await client.query<{ safe: boolean }>(
      `select coalesce(max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot()), true) as safe from ${SCHEMA}.events`,
    );
    if (r.rows[0]?.safe) return;
    if (now() > deadline) throw new Error(`events still held back by an open transaction on the server after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function perEvent(t: Timed): GrowthTimed {
  return { events: t.events, seconds: t.seconds };
}

type Store = Awaited<ReturnType<Awaited<ReturnType<typeof loadApi>>>>;

/** The databases of the growth stores still on the server, for the interrupted run's cleanup. */
const openDatabases = new Set<string>();

/** Drops the growth stores' databases that are still there (after Ctrl-C). */
export async function dropGrowthDatabases(): Promise<void> {
  for (const database of [...openDatabases]) {
    await dropDatabase(database).catch(() => undefined);
    openDatabases.delete(database);
  }
}

/** One store of the growth mode: its database, connections, expected contents and results. */
class GrowthDatabase {
  readonly label: string;
  readonly database: string;
  readonly system: SystemUnderTest;
  readonly ledger = new Ledger();
  readonly result: GrowthStore;
  url = '';
  admin: pg.Client | null = null;
  pool: pg.Pool | null = null;
  store: Store | null = null;

  constructor(
    readonly size: number,
    private readonly perStream: number,
    private readonly log: Log,
  ) {
    this.label = `${fmtCount(size)}-event store`;
    this.database = benchDatabaseName(`growth_${size}`);
    this.result = {
      size,
      streams: size / perStream,
      fill: null,
      bytes: null,
      append: {},
      readStream: null,
      catchUp: null,
      replay: null,
      rebuild: null,
      errors: [],
    };
    this.system = appendSystem(`growth_${size}`, this.label, () => this.url);
  }

  get failed(): boolean {
    return this.result.errors.length > 0 && this.result.fill === null;
  }

  /** Runs `fn`; a failure is recorded as this store's error for `what` (and returns false). */
  async step(what: string, fn: () => Promise<void>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (error) {
      const message = `${this.label}: ${what}: ${errorMessage(error)}`;
      this.result.errors.push(message);
      this.log(`  ${message}`);
      return false;
    }
  }

  /** A fresh database with pgevents and the users projection, filled to `size` events, vacuumed. */
  async open(): Promise<void> {
    openDatabases.add(this.database);
    this.url = await recreateDatabase(this.database);
    const url = this.url;
    await setupPgevents(url);
    this.admin = ignoreIdleErrors(new pg.Client({ connectionString: url }));
    await this.admin.connect();
    const start = now();
    await fill(this.admin, this.size, this.perStream, this.log, this.label);
    const fillSeconds = (now() - start) / 1000;
    const vacuumStart = now();
    // Not the empty store: VACUUM ANALYZE records its tables as empty (reltuples 0 instead of
    // "never analyzed"), and every session then caches plans that scan events, streams and users
    // sequentially until the next ANALYZE: appends would slow down as they fill it. Unvacuumed, it is
    // the store every other mode starts from.
    if (this.size > 0) await this.admin.query('vacuum analyze');
    this.result.fill = { seconds: fillSeconds, vacuumSeconds: (now() - vacuumStart) / 1000 };
    this.ledger.events = this.size;
    this.ledger.users = this.size / this.perStream;
    await checked(this.system, this.ledger, 'after the fill');
    const bytes = await measureBytes(this.admin);
    this.result.bytes = bytes;
    const rate = fillSeconds > 0 ? `${Math.round(this.size / fillSeconds).toLocaleString('en-US')} events/s` : '–';
    if (this.size === 0) this.log(`  ${this.label}: empty, not vacuumed`);
    else this.log(`  ${this.label}: filled in ${fillSeconds.toFixed(1)} s (${rate}), VACUUM ANALYZE ${this.result.fill.vacuumSeconds.toFixed(1)} s; events table ${mib(bytes.table)}, its indexes ${mib(bytes.indexes)}`);
    const openEventStore = await loadApi();
    this.pool = ignoreIdleErrors(new pg.Pool({ connectionString: url, max: 4 }));
    this.store = await openEventStore({ pool: this.pool });
  }

  async close(): Promise<void> {
    await this.store?.close().catch(() => undefined);
    await this.pool?.end().catch(() => undefined);
    await this.admin?.end().catch(() => undefined);
    await dropDatabase(this.database).catch((e: unknown) => this.log(`  dropping ${this.database}: ${errorMessage(e)}`));
    openDatabases.delete(this.database);
  }

  /** `count` streams of `perStream` events, chosen at random among all of them. */
  async sampleStreams(count: number): Promise<string[]> {
    const sample = await this.admin!.query<{ stream: string }>(
      `select stream::text as stream from ${SCHEMA}.streams where version = $1 order by random() limit $2`,
      [this.perStream, count],
    );
    if (sample.rows.length === 0) throw new Error(`no stream of ${this.perStream} events to read`);
    return sample.rows.map((r) => r.stream);
  }

  /** One timed readStream, checked: the stream's events, versions 1 to perStream. */
  async read(stream: string): Promise<number> {
    const t0 = now();
    const events = await this.store!.readStream(stream);
    const ms = now() - t0;
    if (events.length !== this.perStream || events.some((e, i) => e.version !== i + 1 || e.stream !== stream)) {
      throw new Error(`readStream(${stream}) returned ${events.length} events (versions ${events.map((e) => e.version).join(',')}), ${this.perStream} stored`);
    }
    return ms;
  }

  /** Imports `events` more, then times a new subscription from before them until it has caught up. */
  async catchUp(events: number): Promise<void> {
    const admin = this.admin!;
    const last = await admin.query<{ cursor: string | null }>(
      `select transaction_id::text || '-' || id as cursor from ${SCHEMA}.events order by transaction_id desc, id desc limit 1`,
    );
    const from = last.rows[0]?.cursor ?? 'start';
    await fill(admin, events, this.perStream, this.log, `${this.label}, catch-up events`);
    this.ledger.events += events;
    this.ledger.users += events / this.perStream;
    await untilSafe(admin, 60_000);
    await checkpoint();
    let delivered = 0;
    const started = now();
    const reader = await this.store!.subscribe({
      name: 'growth-catch-up',
      from,
      batchSize: 1000,
      handler: (batch) => {
        delivered += batch.length;
      },
    });
    await reader.caughtUp();
    const seconds = (now() - started) / 1000;
    await reader.stop();
    if (delivered !== events) throw new Error(`delivered ${delivered} events, ${events} stored after the cursor`);
    this.result.catchUp = { events: delivered, seconds };
    this.log(`  ${this.label}: subscription catch-up over the last ${delivered.toLocaleString('en-US')} events in ${seconds.toFixed(2)} s: ${Math.round(delivered / seconds).toLocaleString('en-US')} events/s`);
  }

  async replay(): Promise<void> {
    await checkpoint();
    const t = await replayPgevents(this.url);
    await checked(this.system, this.ledger, 'after the replay');
    this.result.replay = perEvent(t);
    this.log(`  ${this.label}: replay of ${t.events.toLocaleString('en-US')} events in ${t.seconds.toFixed(1)} s: ${((t.seconds * 1e6) / t.events).toFixed(2)} µs/event`);
  }

  async rebuild(): Promise<void> {
    await checkpoint();
    const t = await onlineRebuildPgevents(this.url);
    await checked(this.system, this.ledger, 'after the rebuild');
    this.result.rebuild = perEvent(t);
    this.log(`  ${this.label}: online rebuild (set-based statement) of ${t.events.toLocaleString('en-US')} events in ${t.seconds.toFixed(1)} s: ${((t.seconds * 1e6) / t.events).toFixed(2)} µs/event`);
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * The growth mode: every store filled first (one at a time, each on a database of its own), then
 * each measurement on all of them, interleaved where it is repeated (the append runs, the reads) so
 * that other load on the machine falls on every store alike; the ratios compare stores of one run.
 */
export async function measureGrowth(sizes: number[], options: GrowthOptions): Promise<GrowthStore[]> {
  const { log, eventsPerStream: perStream } = options;
  const all = sizes.map((size) => new GrowthDatabase(size, perStream, log));
  try {
    log(`\n== growth: filling stores of ${sizes.map(fmtCount).join(', ')} events (import_events, ${fmtCount(FILL_CHUNK_EVENTS)} a transaction), VACUUM ANALYZE`);
    for (const g of all) await g.step('fill', () => g.open());
    const live = all.filter((g) => !g.failed);

    for (const mode of ['seq1', 'conc8'] as const) {
      log(`\n== growth: ${MODE_INFO[mode].title}: warm-up ${options.warmupMs / 1000} s, ${options.runs} × ${options.runMs / 1000} s per store`);
      const row = await runAppendMode({
        mode: MODE_INFO[mode],
        systems: live.map((g) => g.system),
        ledgers: new Map(live.map((g) => [g.system.id, g.ledger])),
        databases: new Map(live.map((g) => [g.system.id, g.database])),
        runs: options.runs,
        runMs: options.runMs,
        warmupMs: options.warmupMs,
        eventsPerStream: perStream,
        log,
      });
      for (const g of live) {
        const cell = row[g.system.id]!;
        if (cell.kind === 'error') g.result.errors.push(`${g.label}: ${mode}: ${cell.message}`);
        g.result.append[mode] = cell;
      }
    }

    log(`\n== growth: readStream of random ${perStream}-event streams, ${options.reads} per store, interleaved`);
    const samples = new Map<GrowthDatabase, string[]>();
    for (const g of live) await g.step('readStream', async () => void samples.set(g, await g.sampleStreams(options.reads)));
    const readers = live.filter((g) => samples.has(g));
    const latencies = new Map(readers.map((g) => [g, [] as number[]]));
    const failed = new Set<GrowthDatabase>();
    // An unrecorded warm-up (connections, plans) on the end of each sample, then the timed reads.
    const warmup = Math.min(100, options.reads);
    for (let i = -warmup; i < options.reads; i++) {
      for (const g of readers) {
        if (failed.has(g)) continue;
        const streams = samples.get(g)!;
        const stream = i < 0 ? streams[streams.length - 1 - ((-i - 1) % streams.length)]! : streams[i % streams.length]!;
        const ok = await g.step('readStream', async () => {
          const ms = await g.read(stream);
          if (i >= 0) latencies.get(g)!.push(ms);
        });
        if (!ok) failed.add(g);
      }
    }
    for (const g of readers) {
      if (failed.has(g)) continue;
      const sorted = latencies.get(g)!.sort((a, b) => a - b);
      const r = { reads: sorted.length, streams: samples.get(g)!.length, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), maxMs: sorted.at(-1)! };
      g.result.readStream = r;
      log(`  ${g.label}: ${r.reads} reads of ${r.streams} streams: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, max ${r.maxMs.toFixed(1)} ms`);
    }

    log(`\n== growth: a new subscription catching up with the last ${options.catchUpEvents.toLocaleString('en-US')} events (imported first)`);
    for (const g of live) await g.step('catch-up', () => g.catchUp(options.catchUpEvents));

    log('\n== growth: replay_projection and the online rebuild (set-based statement) over all stored events');
    for (const g of live) await g.step('replay', () => g.replay());
    for (const g of live) await g.step('rebuild', () => g.rebuild());
    return all.map((g) => g.result);
  } finally {
    for (const g of all) await g.close();
  }
}
