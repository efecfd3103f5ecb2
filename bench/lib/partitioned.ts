/**
 * Partitioned events (issue 16): a store whose events table is partitioned by a hash of the
 * stream (`openEventStore({ partitions })`) against one whose events are one table, side by side
 * in one run, and the move of an existing store (`store.partitionEvents(n)`) with its downtime.
 *
 * Two stores of their own (two databases on the server, two data directories on the embedded
 * engine), set up alike with the users projection and filled alike; then, in `rounds` rounds, every
 * workload runs on both stores in turn (the order alternating from round to round), so that other
 * load on the machine falls on both alike:
 *   - reads: `store.readStream` of 100-event streams, `store.readAll` pages of 1,000 events through
 *     the filled log from the start, a new subscription catching up with it, `store.replay('users')`;
 *   - appends (`append_events` called from `pg` clients, prepared, no projection: the log alone):
 *     one event sequentially, batches of 10 sequentially, one event from 8 connections, each
 *     without event ids and with them (an append with ids probes the stored ids first: every
 *     partition's event_id index in a partitioned store; `store.append` always sends ids).
 * Then the move: a store of `moveSizes[i]` events in one table (filled by `import_events`,
 * vacuumed) moved to `partitions` partitions; the lock time (what appends and reads wait), the
 * events moved per second, and an append issued while the move holds the lock.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { v7 as timeOrderedUuid } from 'uuid';
import type { EventStore } from '../../src/index.js';
import { serverCpuBetween, serverCpuSnapshot } from './cpu.js';
import { benchDatabaseName, checkpoint, dropDatabase, ignoreIdleErrors, recreateDatabase } from './db.js';
import { fmtCount } from './format.js';
import { fill } from './growth.js';
import { loadApi, setupStore } from './pgevents-api.js';
import { median, quantile } from './stats.js';
import { now } from './time.js';
import { bulkSource, ndjsonOf } from './workload.js';

export type PartitionedEngine = 'server' | 'embedded';

export interface PartitionedOptions {
  /** Hash partitions of the partitioned store and of the move's target. */
  partitions: number;
  /** Rounds of every workload on both stores. */
  rounds: number;
  /** Length of one append run. */
  runMs: number;
  /** Events stored (and vacuumed) before the reads: streams of 10, and 100-event streams for readStream. */
  storedEvents: number;
  /** readStream calls per round and store. */
  reads: number;
  /** Stores moved to partitions, by size (events). */
  moveSizes: number[];
  /** Scratch directory for the embedded engine's data directories. */
  workDir: string;
  log: (line: string) => void;
}

/** One run of a workload on one store. */
export interface LayoutSample {
  events: number;
  calls: number;
  seconds: number;
  /** events / seconds */
  rate: number;
  /** Latency of one call (null for a workload that is one call: the catch-up, the replay). */
  p50Ms: number | null;
  p99Ms: number | null;
  /**
   * CPU of the store's server backends per event, µs (from /proc; null on the embedded engine or
   * where the server's processes cannot be read): far less disturbed by other load than events/s.
   */
  serverCpuUs?: number | null;
}

export interface PartitionedWorkload {
  id: string;
  what: string;
  kind: 'read' | 'append';
  /** One sample per round: the store with one events table, and the partitioned one. */
  plain: LayoutSample[];
  partitioned: LayoutSample[];
}

export interface MoveMeasurement {
  events: number;
  /** Filling the one-table store (import_events, or store.importEvents on the embedded engine) and its VACUUM ANALYZE. */
  fillSeconds: number;
  /** partitionEvents' own report: the time the log was locked (call to return). */
  lockedMs: number;
  eventsPerSecond: number;
  /** Functions and views created again by the move. */
  dependents: number;
  /** p50 of 50 sequential `store.append` calls of one event just before the move. */
  appendBeforeP50Ms: number;
  /** An append issued once the move held the lock (server), or queued behind it (embedded: one connection). */
  appendDuring: { issuedAfterMs: number; latencyMs: number; lockSeen: boolean };
  /** p50 of 50 sequential appends right after the move (the partitioned store). */
  appendAfterP50Ms: number;
}

export interface PartitionedEngineMeasurement {
  engine: PartitionedEngine;
  partitions: number;
  rounds: number;
  runMs: number;
  storedEvents: number;
  workloads: PartitionedWorkload[];
  moves: MoveMeasurement[];
  errors: string[];
}

/** A store under test and how its appends are sent. */
interface Side {
  label: 'plain' | 'partitioned';
  store: EventStore;
  /** The server database (null: the embedded engine). */
  database: string | null;
  /** `writers` appenders, each one connection (the embedded engine: its one connection). */
  appenders: Appender[];
  appended: number;
  close(): Promise<void>;
}

type Appender = (stream: string, events: string) => Promise<void>;

const APPEND_SQL = `select count(*) from pgevents.append_events($1::uuid, $2::jsonb, 'any')`;
const LONG_STREAM = 100;
const PAGE = 1000;
const CONCURRENT_WRITERS = 8;

function eventsJson(batch: number, first: number, ids: boolean): string {
  let out = '[';
  for (let i = 0; i < batch; i++) {
    const position = first + i;
    const type = position === 0 ? 'user_create' : 'user_update';
    out += `${i === 0 ? '' : ','}{"type":"${type}","body":{"name":"user ${position}"}${ids ? `,"id":"${timeOrderedUuid()}"` : ''}}`;
  }
  return out + ']';
}

function sample(events: number, seconds: number, latencies: number[]): LayoutSample {
  latencies.sort((a, b) => a - b);
  const timed = latencies.length > 1;
  return {
    events,
    calls: latencies.length,
    seconds,
    rate: events / seconds,
    p50Ms: timed ? quantile(latencies, 0.5) : null,
    p99Ms: timed ? quantile(latencies, 0.99) : null,
  };
}

/** Writers append until the deadline, each on its own streams (a new one every `perStream` events). */
async function appendRun(side: Side, writers: number, batch: number, ids: boolean, ms: number): Promise<LayoutSample> {
  const perStream = batch === 1 ? 10 : batch * 10;
  const latencies: number[] = [];
  let events = 0;
  const start = now();
  const deadline = start + ms;
  await Promise.all(
    side.appenders.slice(0, writers).map(async (append) => {
      let stream = timeOrderedUuid();
      let position = 0;
      while (now() < deadline) {
        if (position >= perStream) {
          stream = timeOrderedUuid();
          position = 0;
        }
        const json = eventsJson(batch, position, ids);
        const t = now();
        await append(stream, json);
        latencies.push(now() - t);
        position += batch;
        events += batch;
      }
    }),
  );
  side.appended += events;
  return sample(events, (now() - start) / 1000, latencies);
}

async function readStreamRun(side: Side, streams: string[], reads: number): Promise<LayoutSample> {
  const latencies: number[] = [];
  const start = now();
  for (let i = 0; i < reads; i++) {
    const stream = streams[Math.floor(Math.random() * streams.length)]!;
    const t = now();
    const events = await side.store.readStream(stream);
    latencies.push(now() - t);
    if (events.length !== LONG_STREAM || events[LONG_STREAM - 1]!.version !== LONG_STREAM) {
      throw new Error(`readStream of a ${LONG_STREAM}-event stream returned ${events.length} events`);
    }
  }
  return sample(reads * LONG_STREAM, (now() - start) / 1000, latencies);
}

async function readAllRun(side: Side, total: number): Promise<LayoutSample> {
  const latencies: number[] = [];
  let after: string | undefined;
  let read = 0;
  let last = 0;
  const start = now();
  while (read < total) {
    const t = now();
    const page = await side.store.readAll({ limit: Math.min(PAGE, total - read), ...(after ? { after } : {}) });
    latencies.push(now() - t);
    if (page.events.length === 0) throw new Error(`readAll ended after ${read} of ${total} events`);
    for (const event of page.events) {
      if (event.position <= last) throw new Error('readAll returned positions out of order');
      last = event.position;
    }
    read += page.events.length;
    after = page.cursor;
  }
  return sample(read, (now() - start) / 1000, latencies);
}

async function catchUpRun(side: Side, name: string, total: number): Promise<LayoutSample> {
  let delivered = 0;
  const start = now();
  const reader = await side.store.subscribe({
    name,
    from: 'start',
    batchSize: PAGE,
    handler: (events) => {
      delivered += events.length;
    },
  });
  await reader.caughtUp();
  const seconds = (now() - start) / 1000;
  await reader.stop();
  if (delivered !== total) throw new Error(`catch-up delivered ${delivered} events, ${total} stored`);
  return sample(delivered, seconds, []);
}

async function replayRun(side: Side, total: number): Promise<LayoutSample> {
  const start = now();
  const result = await side.store.replay('users');
  const seconds = (now() - start) / 1000;
  if (result.applied !== total) throw new Error(`replay applied ${result.applied} events, ${total} stored`);
  return sample(result.applied, seconds, []);
}

/** The run, with its server backends' CPU per event. */
async function withServerCpu(side: Side, run: () => Promise<LayoutSample>): Promise<LayoutSample> {
  if (!side.database) return run();
  const before = await serverCpuSnapshot(side.database).catch(() => null);
  const measured = await run();
  const after = before ? await serverCpuSnapshot(side.database).catch(() => null) : null;
  const cpuMs = before && after ? serverCpuBetween(before, after) : null;
  return { ...measured, serverCpuUs: cpuMs === null || measured.events === 0 ? null : (cpuMs * 1000) / measured.events };
}

async function countEvents(store: EventStore): Promise<number> {
  const [row] = await store.query<{ n: unknown }>('select count(*) as n from pgevents.events');
  return Number(row?.n ?? -1);
}

/** A fresh store of either layout: a database of its own (with `writers` append connections), or a data directory. */
async function openSide(engine: PartitionedEngine, label: Side['label'], partitions: number, workDir: string): Promise<Side> {
  const openEventStore = await loadApi();
  const layout = label === 'plain' ? 0 : partitions;
  if (engine === 'embedded') {
    const dataDir = join(workDir, `partitioned-${label}`);
    rmSync(dataDir, { recursive: true, force: true });
    const store = await openEventStore({ dataDir, migrate: true, partitions: layout });
    const append: Appender = async (stream, events) => {
      await store.query(APPEND_SQL, [stream, events]);
    };
    return {
      label,
      store,
      database: null,
      appenders: [append],
      appended: 0,
      close: async () => {
        await store.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const database = benchDatabaseName(`partitioned_${label}`);
  const url = await recreateDatabase(database);
  const pool = ignoreIdleErrors(new pg.Pool({ connectionString: url, max: 4 }));
  const store = await openEventStore({ pool, migrate: true, partitions: layout });
  const clients: pg.Client[] = [];
  for (let i = 0; i < CONCURRENT_WRITERS; i++) {
    const client = ignoreIdleErrors(new pg.Client({ connectionString: url }));
    await client.connect();
    clients.push(client);
  }
  return {
    label,
    store,
    database,
    appenders: clients.map((client) => async (stream: string, events: string) => {
      await client.query({ name: 'append', text: APPEND_SQL, values: [stream, events] });
    }),
    appended: 0,
    close: async () => {
      for (const client of clients) await client.end().catch(() => undefined);
      await store.close();
      await pool.end();
      await dropDatabase(database).catch(() => undefined);
    },
  };
}

interface WorkloadSpec {
  id: string;
  what: string;
  kind: 'read' | 'append';
  run: (side: Side, round: number) => Promise<LayoutSample>;
}

function fmtSample(s: LayoutSample): string {
  const latency = s.p50Ms === null ? '' : ` (p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms!.toFixed(2)} ms)`;
  const cpu = s.serverCpuUs == null ? '' : `, server CPU ${s.serverCpuUs.toFixed(0)} µs/event`;
  return `${Math.round(s.rate).toLocaleString('en-US')} events/s${latency}${cpu}`;
}

export async function measurePartitioned(engine: PartitionedEngine, options: PartitionedOptions): Promise<PartitionedEngineMeasurement> {
  const { log, partitions } = options;
  const result: PartitionedEngineMeasurement = {
    engine,
    partitions,
    rounds: options.rounds,
    runMs: options.runMs,
    storedEvents: options.storedEvents,
    workloads: [],
    moves: [],
    errors: [],
  };
  const sides: Side[] = [];
  try {
    sides.push(await openSide(engine, 'plain', partitions, options.workDir));
    sides.push(await openSide(engine, 'partitioned', partitions, options.workDir));
    for (const side of sides) {
      const expected = side.label === 'plain' ? 0 : partitions;
      const actual = await side.store.eventPartitions();
      if (actual !== expected) throw new Error(`the ${side.label} store has ${actual} partitions, not ${expected}`);
    }

    // The same events in both: 100-event streams for readStream, the rest in streams of 10.
    const longEvents = Math.max(LONG_STREAM, Math.round(Math.min(20_000, options.storedEvents / 5) / LONG_STREAM) * LONG_STREAM);
    const shortEvents = Math.max(10, Math.round((options.storedEvents - longEvents) / 10) * 10);
    const stored = longEvents + shortEvents;
    result.storedEvents = stored;
    const fillStarted = now();
    for (const side of sides) {
      await setupStore(side.store);
      await side.store.importEvents(ndjsonOf(bulkSource(shortEvents, 10)), { format: 'ndjson' });
      await side.store.importEvents(ndjsonOf(bulkSource(longEvents, LONG_STREAM)), { format: 'ndjson' });
      await side.store.query('vacuum analyze');
    }
    log(`  ${engine}: both stores filled with ${stored.toLocaleString('en-US')} events (users projection) in ${((now() - fillStarted) / 1000).toFixed(1)} s`);
    const streamsOf = new Map<Side, string[]>();
    for (const side of sides) {
      const streams = (
        await side.store.query<{ stream: string }>(`select stream::text as stream from pgevents.streams where version = ${LONG_STREAM}`)
      ).map((row) => row.stream);
      if (streams.length !== longEvents / LONG_STREAM) throw new Error(`found ${streams.length} streams of ${LONG_STREAM} events, ${longEvents / LONG_STREAM} imported`);
      streamsOf.set(side, streams);
    }

    const reads: WorkloadSpec[] = [
      { id: 'readStream', what: `readStream of a ${LONG_STREAM}-event stream`, kind: 'read', run: (side) => readStreamRun(side, streamsOf.get(side)!, options.reads) },
      { id: 'readAll', what: `readAll, pages of ${fmtCount(PAGE)} from the start through ${fmtCount(stored)} events`, kind: 'read', run: (side) => readAllRun(side, stored) },
      { id: 'catchUp', what: `a new subscription catching up with ${fmtCount(stored)} events`, kind: 'read', run: (side, round) => catchUpRun(side, `bench-catch-up-${round}`, stored) },
      { id: 'replay', what: `replay of the users projection over ${fmtCount(stored)} events`, kind: 'read', run: (side) => replayRun(side, stored) },
    ];
    const concurrent = engine === 'server';
    const appends: WorkloadSpec[] = [];
    for (const ids of [false, true]) {
      const withIds = ids ? ', with event ids' : '';
      appends.push(
        { id: `append1${ids ? 'Ids' : ''}`, what: `append 1 event, sequential${withIds}`, kind: 'append', run: (side) => appendRun(side, 1, 1, ids, options.runMs) },
        { id: `append10${ids ? 'Ids' : ''}`, what: `append 10 events, sequential${withIds}`, kind: 'append', run: (side) => appendRun(side, 1, 10, ids, options.runMs) },
      );
      if (concurrent) {
        appends.push({
          id: `append1x8${ids ? 'Ids' : ''}`,
          what: `append 1 event, ${CONCURRENT_WRITERS} connections${withIds}`,
          kind: 'append',
          run: (side) => appendRun(side, CONCURRENT_WRITERS, 1, ids, options.runMs),
        });
      }
    }

    const runRounds = async (specs: WorkloadSpec[], warmUp: ((side: Side) => Promise<unknown>) | null) => {
      if (engine === 'server') await checkpoint();
      if (warmUp) for (const side of sides) await warmUp(side);
      const measured = specs.map((spec) => ({ spec, workload: { id: spec.id, what: spec.what, kind: spec.kind, plain: [], partitioned: [] } as PartitionedWorkload }));
      for (let round = 1; round <= options.rounds; round++) {
        const order = round % 2 === 1 ? sides : [...sides].reverse();
        for (const { spec, workload } of measured) {
          for (const side of order) workload[side.label].push(await withServerCpu(side, () => spec.run(side, round)));
          const [plain, partitioned] = [workload.plain.at(-1)!, workload.partitioned.at(-1)!];
          log(
            `  ${engine}, round ${round}, ${spec.what}: one table ${fmtSample(plain)}; ${partitions} partitions ${fmtSample(partitioned)} (${(partitioned.rate / plain.rate).toFixed(2)}×)`,
          );
        }
      }
      result.workloads.push(...measured.map((m) => m.workload));
    };

    // Reads first, while both stores hold exactly the filled events.
    await runRounds(reads, (side) => readStreamRun(side, streamsOf.get(side)!, Math.min(50, options.reads)));
    // Appends on the log alone: without the projection.
    for (const side of sides) await side.store.dropProjection('users', { dropTables: true });
    const warmMs = Math.min(1000, options.runMs / 2);
    await runRounds(appends, async (side) => {
      await appendRun(side, 1, 1, true, warmMs);
      if (concurrent) await appendRun(side, CONCURRENT_WRITERS, 1, false, warmMs);
    });
    for (const side of sides) {
      const count = await countEvents(side.store);
      if (count !== stored + side.appended) throw new Error(`the ${side.label} store holds ${count} events, ${stored + side.appended} were stored`);
    }
  } catch (error) {
    result.errors.push(String(error));
    log(`  partitioned (${engine}): ${String(error)}`);
  } finally {
    for (const side of sides) await side.close().catch((e: unknown) => log(`  closing the ${side.label} store: ${String(e)}`));
  }

  for (const size of options.moveSizes) {
    try {
      result.moves.push(await measureMove(engine, size, options));
    } catch (error) {
      result.errors.push(`move of ${fmtCount(size)} events: ${String(error)}`);
      log(`  partitioned (${engine}), move of ${fmtCount(size)} events: ${String(error)}`);
    }
  }
  return result;
}

async function appendLatencies(store: EventStore, count: number): Promise<number> {
  const stream = timeOrderedUuid();
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = now();
    await store.append(stream, [{ type: i === 0 ? 'user_create' : 'user_update', body: { name: `user ${i}` } }]);
    latencies.push(now() - t);
  }
  return median(latencies);
}

/** A store of `size` events in one table moved to `partitions` partitions, and an append issued meanwhile. */
async function measureMove(engine: PartitionedEngine, size: number, options: PartitionedOptions): Promise<MoveMeasurement> {
  const { log, partitions } = options;
  const openEventStore = await loadApi();
  const database = engine === 'server' ? benchDatabaseName('partitioned_move') : null;
  const dataDir = join(options.workDir, 'partitioned-move');
  let pool: pg.Pool | null = null;
  let watcher: pg.Client | null = null;
  let store: EventStore | null = null;
  try {
    const fillStarted = now();
    if (database) {
      const url = await recreateDatabase(database);
      pool = ignoreIdleErrors(new pg.Pool({ connectionString: url, max: 4 }));
      store = await openEventStore({ pool, migrate: true });
      watcher = ignoreIdleErrors(new pg.Client({ connectionString: url }));
      await watcher.connect();
      // The store's own bulk path from a staging table (as the growth mode fills).
      await fill(watcher, size, 10, log, `move of ${fmtCount(size)}`);
    } else {
      rmSync(dataDir, { recursive: true, force: true });
      store = await openEventStore({ dataDir, migrate: true });
      await store.importEvents(ndjsonOf(bulkSource(size, 10)), { format: 'ndjson' });
    }
    await store.query('vacuum analyze');
    const fillSeconds = (now() - fillStarted) / 1000;
    if ((await store.eventPartitions()) !== 0) throw new Error('the store to move is partitioned already');
    const appendBeforeP50Ms = await appendLatencies(store, 50);
    if (engine === 'server') await checkpoint();

    const started = now();
    const move = store.partitionEvents(partitions);
    let settled = false;
    void move.then(
      () => (settled = true),
      () => (settled = true),
    );
    let lockSeen = false;
    if (watcher) {
      // Wait until the move holds the events table, then append from another connection.
      while (!settled) {
        const r = await watcher.query<{ held: boolean }>(
          `select exists (select 1 from pg_locks l
                           where l.locktype = 'relation' and l.relation = 'pgevents.events'::regclass
                             and l.mode = 'AccessExclusiveLock' and l.granted and l.pid <> pg_backend_pid()) as held`,
        );
        if (r.rows[0]?.held) {
          lockSeen = true;
          break;
        }
      }
    } else {
      // One connection: the append is queued behind the move.
      lockSeen = true;
    }
    const issuedAfterMs = now() - started;
    const t = now();
    await store.append(timeOrderedUuid(), [{ type: 'user_create', body: { name: 'during the move' } }]);
    const latencyMs = now() - t;
    const moved = await move;
    if (moved.partitions !== partitions || moved.previous !== 0) throw new Error(`the move reported ${moved.previous} → ${moved.partitions} partitions`);
    if (moved.events !== size + 50) throw new Error(`the move moved ${moved.events} events, ${size + 50} were stored`);
    if ((await store.eventPartitions()) !== partitions) throw new Error('the store is not partitioned after the move');
    const appendAfterP50Ms = await appendLatencies(store, 50);
    const count = await countEvents(store);
    if (count !== size + 50 + 1 + 50) throw new Error(`the moved store holds ${count} events, ${size + 101} were stored`);
    const measurement: MoveMeasurement = {
      events: moved.events,
      fillSeconds,
      lockedMs: moved.lockedMs,
      eventsPerSecond: moved.events / (moved.lockedMs / 1000),
      dependents: moved.dependents,
      appendBeforeP50Ms,
      appendDuring: { issuedAfterMs, latencyMs, lockSeen },
      appendAfterP50Ms,
    };
    log(
      `  ${engine}, move of ${moved.events.toLocaleString('en-US')} events to ${partitions} partitions: locked ${(moved.lockedMs / 1000).toFixed(1)} s ` +
        `(${Math.round(measurement.eventsPerSecond).toLocaleString('en-US')} events/s, ${moved.dependents} dependents created again); ` +
        `an append issued ${issuedAfterMs.toFixed(0)} ms into it returned after ${latencyMs.toFixed(0)} ms; ` +
        `append p50 before ${appendBeforeP50Ms.toFixed(2)} ms, after ${appendAfterP50Ms.toFixed(2)} ms (fill ${fillSeconds.toFixed(1)} s)`,
    );
    return measurement;
  } finally {
    await store?.close().catch(() => undefined);
    await watcher?.end().catch(() => undefined);
    await pool?.end().catch(() => undefined);
    if (database) await dropDatabase(database).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function median0(values: number[]): number {
  return values.length === 0 ? NaN : median(values);
}

/** Medians over the rounds of one workload, and the ratio partitioned / one table (of the medians, and the range of the per-round ratios). */
export function workloadSummary(w: PartitionedWorkload): {
  plain: { rate: number; p50Ms: number | null; p99Ms: number | null; serverCpuUs: number | null };
  partitioned: { rate: number; p50Ms: number | null; p99Ms: number | null; serverCpuUs: number | null };
  ratio: number;
  ratioMin: number;
  ratioMax: number;
} {
  const of = (samples: LayoutSample[]) => ({
    rate: median0(samples.map((s) => s.rate)),
    p50Ms: samples[0]?.p50Ms === null ? null : median0(samples.map((s) => s.p50Ms!)),
    p99Ms: samples[0]?.p99Ms === null ? null : median0(samples.map((s) => s.p99Ms!)),
    serverCpuUs: samples.every((s) => typeof s.serverCpuUs === 'number') ? median0(samples.map((s) => s.serverCpuUs!)) : null,
  });
  const plain = of(w.plain);
  const partitioned = of(w.partitioned);
  const ratios = w.plain.map((p, i) => w.partitioned[i]!.rate / p.rate);
  return { plain, partitioned, ratio: partitioned.rate / plain.rate, ratioMin: Math.min(...ratios), ratioMax: Math.max(...ratios) };
}

const ms = (v: number | null) => (v === null ? '–' : `${v.toFixed(2)}`);
const rate = (v: number) => Math.round(v).toLocaleString('en-US');

/** Appends only: a read's CPU (a few µs an event, /proc counts 10 ms ticks) is below what a run can resolve. */
function cpuText(w: PartitionedWorkload, plain: number | null, partitioned: number | null): string {
  if (w.kind !== 'append' || plain === null || partitioned === null || !(plain > 0)) return '–';
  return `${plain.toFixed(0)} / ${partitioned.toFixed(0)} (${(partitioned / plain).toFixed(2)}×)`;
}

/** The tables of the console report and of bench/README.md. */
export function partitionedTables(measured: PartitionedEngineMeasurement[]): string[] {
  const out: string[] = [];
  const first = measured[0];
  if (!first) return out;
  out.push(
    `| engine | workload | one table, events/s | ${first.partitions} partitions, events/s | ratio (rounds) | p50 ms, one table / partitioned | p99 ms, one table / partitioned | server CPU µs/event, one table / partitioned |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const m of measured) {
    for (const w of m.workloads) {
      if (w.plain.length === 0) continue;
      const s = workloadSummary(w);
      out.push(
        `| ${m.engine} | ${w.what} | ${rate(s.plain.rate)} | ${rate(s.partitioned.rate)} | **${s.ratio.toFixed(2)}×** (${s.ratioMin.toFixed(2)}–${s.ratioMax.toFixed(2)}) | ` +
          `${ms(s.plain.p50Ms)} / ${ms(s.partitioned.p50Ms)} | ${ms(s.plain.p99Ms)} / ${ms(s.partitioned.p99Ms)} | ` +
          `${cpuText(w, s.plain.serverCpuUs, s.partitioned.serverCpuUs)} |`,
      );
    }
  }
  const moves = measured.flatMap((m) => m.moves.map((move) => ({ engine: m.engine, move })));
  if (moves.length > 0) {
    out.push(
      '',
      `| engine | events moved to ${first.partitions} partitions | locked (downtime) | events/s moved | an append issued during the move returned after | append p50 before / after the move |`,
      '| --- | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const { engine, move } of moves) {
      out.push(
        `| ${engine} | ${move.events.toLocaleString('en-US')} | **${(move.lockedMs / 1000).toFixed(2)} s** | ${rate(move.eventsPerSecond)} | ` +
          `${(move.appendDuring.latencyMs / 1000).toFixed(2)} s (issued ${(move.appendDuring.issuedAfterMs / 1000).toFixed(2)} s into the move${move.appendDuring.lockSeen ? '' : ', before the lock was seen'}) | ` +
          `${move.appendBeforeP50Ms.toFixed(2)} / ${move.appendAfterP50Ms.toFixed(2)} ms |`,
      );
    }
  }
  return out;
}
