/** Runs the modes against the systems: warm-up, repeated runs, verification. */
import { checkpoint } from './db.js';
import type { Cell, RunSample } from './results.js';
import { clientCpuMs, serverCpuBetween, serverCpuSnapshot } from './cpu.js';
import { median, summarize } from './stats.js';
import { now } from './time.js';
import { StreamCursor } from './workload.js';
import type { BulkSource, ModeInfo, SystemUnderTest, Timed, Writer } from './types.js';

export interface Log {
  (line: string): void;
}

/** What a system has been handed so far: the expected contents of its database. */
export class Ledger {
  events = 0;
  users = 0;

  reset(): void {
    this.events = 0;
    this.users = 0;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function sample(t: Timed): RunSample {
  return { events: t.events, seconds: t.seconds, rate: t.seconds > 0 ? t.events / t.seconds : 0 };
}

/** Check the system's database holds what the ledger says; returns a problem or null. */
export async function verify(system: SystemUnderTest, ledger: Ledger): Promise<string | null> {
  const counts = await system.counts();
  if (counts.events !== ledger.events) {
    return `${system.label}: ${counts.events} events stored, ${ledger.events} appended`;
  }
  if (system.projects && counts.users !== ledger.users) {
    return `${system.label}: ${counts.users} users in the read model, ${ledger.users} created`;
  }
  return null;
}

/**
 * One time-boxed run: every writer appends batches from its own cursor until the deadline; the
 * run ends when the last in-flight transaction has committed, and that time counts.
 */
async function appendRun(
  writers: Writer[],
  cursors: StreamCursor[],
  ledger: Ledger,
  ms: number,
  database: string | null,
): Promise<RunSample> {
  let events = 0;
  const server0 = database ? await serverCpuSnapshot(database).catch(() => null) : null;
  const client0 = clientCpuMs();
  const start = now();
  const deadline = start + ms;
  await Promise.all(
    writers.map(async (writer, i) => {
      const cursor = cursors[i]!;
      while (now() < deadline) {
        const batch = cursor.next();
        await writer.append(batch);
        events += batch.events.length;
        ledger.events += batch.events.length;
        ledger.users += batch.creates;
      }
    }),
  );
  const seconds = (now() - start) / 1000;
  const client1 = clientCpuMs();
  const server1 = database && server0 !== null ? await serverCpuSnapshot(database).catch(() => null) : null;
  const serverMs = server0 && server1 ? serverCpuBetween(server0, server1) : null;
  return {
    events,
    seconds,
    rate: events / seconds,
    serverCpuUs: serverMs !== null && events > 0 ? (serverMs * 1000) / events : null,
    clientCpuUs: events > 0 ? ((client1 - client0) * 1000) / events : 0,
  };
}

function cpuMedians(samples: RunSample[]): { server: number | null; client: number } {
  const server = samples.map((s) => s.serverCpuUs).filter((v): v is number => typeof v === 'number');
  return {
    server: server.length === samples.length && server.length > 0 ? median(server) : null,
    client: median(samples.map((s) => s.clientCpuUs ?? 0)),
  };
}

export interface AppendModeOptions {
  mode: ModeInfo;
  systems: SystemUnderTest[];
  ledgers: Map<string, Ledger>;
  /** The server database of each system (absent for embedded ones), for the CPU accounting. */
  databases: Map<string, string>;
  runs: number;
  runMs: number;
  warmupMs: number;
  eventsPerStream: number;
  log: Log;
}

/**
 * An append mode: open the connections of every system, warm each one up, then the measured runs
 * interleaved across systems (run r starts with a different system each time, so slow drift of the
 * server — checkpoints, autovacuum, table growth — falls on every system alike).
 */
export async function runAppendMode(options: AppendModeOptions): Promise<Record<string, Cell>> {
  const { mode, systems, ledgers, log } = options;
  const batchSize = mode.batchSize ?? 1;
  const connections = mode.connections ?? 1;
  const perStream = Math.max(options.eventsPerStream, batchSize);
  const cells: Record<string, Cell> = {};
  const live: { system: SystemUnderTest; writers: Writer[]; cursors: StreamCursor[]; samples: RunSample[] }[] = [];

  await checkpoint();
  for (const system of systems) {
    const reason = system.unsupported[mode.id];
    if (reason) {
      cells[system.id] = { kind: 'unsupported', reason };
      continue;
    }
    try {
      const writers: Writer[] = [];
      for (let i = 0; i < connections; i++) writers.push(await system.openWriter());
      const cursors = writers.map(() => new StreamCursor(batchSize, perStream));
      await appendRun(writers, cursors, ledgers.get(system.id)!, options.warmupMs, null);
      live.push({ system, writers, cursors, samples: [] });
    } catch (error) {
      cells[system.id] = { kind: 'error', message: `warm-up: ${errorMessage(error)}` };
      log(`  ${system.label}: ${errorMessage(error)}`);
    }
  }

  for (let r = 0; r < options.runs; r++) {
    const order = live.map((_, i) => live[(i + r) % live.length]!);
    for (const entry of order) {
      if (cells[entry.system.id]) continue; // failed in an earlier run
      try {
        const database = options.databases.get(entry.system.id) ?? null;
        const s = await appendRun(entry.writers, entry.cursors, ledgers.get(entry.system.id)!, options.runMs, database);
        entry.samples.push(s);
        log(`  run ${r + 1}/${options.runs} ${entry.system.label.padEnd(28)} ${Math.round(s.rate).toLocaleString('en-US').padStart(9)} events/s`);
      } catch (error) {
        cells[entry.system.id] = { kind: 'error', message: `run ${r + 1}: ${errorMessage(error)}` };
        log(`  ${entry.system.label}: ${errorMessage(error)}`);
      }
    }
  }

  for (const entry of live) {
    await Promise.all(entry.writers.map((w) => w.close().catch(() => undefined)));
    if (cells[entry.system.id]) continue;
    const problem = await verify(entry.system, ledgers.get(entry.system.id)!).catch(errorMessage);
    if (problem) {
      cells[entry.system.id] = { kind: 'error', message: `verification: ${problem}` };
      log(`  verification failed: ${problem}`);
      continue;
    }
    cells[entry.system.id] = {
      kind: 'measured',
      runs: entry.samples,
      summary: summarize(entry.samples.map((s) => s.rate)),
      cpu: cpuMedians(entry.samples),
    };
  }
  return cells;
}

export interface LoadPhaseResult {
  bulk?: Cell;
  replay?: Cell;
  rebuild?: Cell;
}

/**
 * The bulk phase of one system, on a freshly set-up database: load the events (the bulk mode,
 * unless the system does not support it), then replay and rebuild the read model `replayRuns`
 * times each, checking the read model after each.
 */
export async function runLoadPhase(options: {
  system: SystemUnderTest;
  source: BulkSource;
  wantBulk: boolean;
  wantReplay: boolean;
  wantRebuild: boolean;
  replayRuns: number;
  rebuildRuns: number;
  log: Log;
  note?: string;
}): Promise<LoadPhaseResult> {
  const { system, source, log } = options;
  const result: LoadPhaseResult = {};
  const unsupported = system.unsupported;
  const canReplay = options.wantReplay && !unsupported.replay && system.replay;
  const canRebuild = options.wantRebuild && !unsupported.rebuild && system.rebuild;
  const canBulk = options.wantBulk && !unsupported.bulk && system.load;
  const expected = { events: source.total, users: source.streams };
  const note = options.note;

  const check = async (what: string): Promise<string | null> => {
    const counts = await system.counts();
    if (counts.events !== expected.events) return `${what}: ${counts.events} events stored, ${expected.events} loaded`;
    if (system.projects && counts.users !== expected.users) {
      return `${what}: ${counts.users} users in the read model, ${expected.users} expected`;
    }
    return null;
  };

  if (options.wantBulk && unsupported.bulk) result.bulk = { kind: 'unsupported', reason: unsupported.bulk };
  if (options.wantReplay && unsupported.replay) result.replay = { kind: 'unsupported', reason: unsupported.replay };
  if (options.wantRebuild && unsupported.rebuild) result.rebuild = { kind: 'unsupported', reason: unsupported.rebuild };
  if (!canBulk && !canReplay && !canRebuild) return result;
  if (!system.load) return result;

  try {
    await checkpoint();
    const loaded = await system.load(source);
    const problem = await check('after the load');
    if (problem) throw new Error(problem);
    const s = sample(loaded);
    log(`  ${canBulk ? 'bulk load' : 'load (untimed for the table)'} ${system.label.padEnd(24)} ${s.events.toLocaleString('en-US')} events in ${s.seconds.toFixed(1)} s: ${Math.round(s.rate).toLocaleString('en-US')} events/s`);
    if (canBulk) result.bulk = { kind: 'measured', runs: [s], summary: summarize([s.rate]), ...(note ? { note } : {}) };
  } catch (error) {
    const cell: Cell = { kind: 'error', message: `load: ${errorMessage(error)}` };
    log(`  ${system.label}: ${cell.message}`);
    if (canBulk) result.bulk = cell;
    if (canReplay) result.replay = cell;
    if (canRebuild) result.rebuild = cell;
    return result;
  }

  const repeat = async (what: 'replay' | 'rebuild', fn: () => Promise<Timed>): Promise<Cell> => {
    const samples: RunSample[] = [];
    const runs = what === 'replay' ? options.replayRuns : options.rebuildRuns;
    try {
      for (let r = 0; r < runs; r++) {
        await checkpoint();
        const s = sample(await fn());
        const problem = await check(`after ${what} ${r + 1}`);
        if (problem) throw new Error(problem);
        samples.push(s);
        log(`  ${what} ${r + 1}/${runs} ${system.label.padEnd(24)} ${s.events.toLocaleString('en-US')} events in ${s.seconds.toFixed(1)} s: ${Math.round(s.rate).toLocaleString('en-US')} events/s`);
      }
      return { kind: 'measured', runs: samples, summary: summarize(samples.map((s) => s.rate)), ...(note ? { note } : {}) };
    } catch (error) {
      log(`  ${system.label}: ${what}: ${errorMessage(error)}`);
      return { kind: 'error', message: `${what}: ${errorMessage(error)}` };
    }
  };
  if (canReplay) result.replay = await repeat('replay', () => system.replay!());
  if (canRebuild) result.rebuild = await repeat('rebuild', () => system.rebuild!());
  return result;
}
