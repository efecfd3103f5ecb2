/**
 * `npm run bench [-- --quick]`: pgevents against the raw table, the seed's hand-written triggers,
 * Emmett and Message DB, side by side in one process on one server. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { computeRatios, evaluateGoals } from './lib/analysis.js';
import { loadAverage } from './lib/cpu.js';
import { median } from './lib/stats.js';
import { HELP, parseArgs, type BenchConfig } from './lib/config.js';
import pg from 'pg';
import { benchDatabaseName, dropDatabase, ignoreIdleErrors, recreateDatabase, serverInfo, serverUrl } from './lib/db.js';
import { dropGrowthDatabases, measureGrowth } from './lib/growth.js';
import { growthConsole, growthMarkdown, growthReport } from './lib/growth-report.js';
import { fmtCount } from './lib/format.js';
import { loadApi } from './lib/pgevents-api.js';
import { measureSubscriptions, type SubscriptionMeasurement } from './lib/subscriptions.js';
import { measureCommands, type CommandMeasurement } from './lib/commands.js';
import { measureReplicaLag, replicaSummary, replicaUnavailable } from './lib/replica.js';
import { measureTenantMigrations } from './lib/tenants.js';
import { measurePartitioned, partitionedTables, type PartitionedEngineMeasurement } from './lib/partitioned.js';
import { consoleReport, markdownReport, updateReadme, writeJson } from './lib/output.js';
import type { BenchResults, SystemInfo } from './lib/results.js';
import { Ledger, runAppendMode, runLoadPhase } from './lib/runner.js';
import { ratioChart } from './lib/svg.js';
import { MODE_INFO, type ModeId, type SystemDescriptor, type SystemUnderTest } from './lib/types.js';
import { bulkSource } from './lib/workload.js';
import { SYSTEMS } from './systems/index.js';

const log = (line: string) => process.stderr.write(line + '\n');

interface Live {
  descriptor: SystemDescriptor;
  system: SystemUnderTest;
  database: string | null;
  workDir: string;
}

const scratch = mkdtempSync(join(os.tmpdir(), 'pgevents-bench-'));
const opened: Live[] = [];

async function open(descriptor: SystemDescriptor): Promise<Live> {
  const workDir = join(scratch, descriptor.id);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  const database = descriptor.embedded ? null : benchDatabaseName(descriptor.id);
  const databaseUrl = database ? await recreateDatabase(database) : '';
  const system = descriptor.create({ databaseUrl, workDir });
  const live = { descriptor, system, database, workDir };
  opened.push(live);
  await system.setup();
  return live;
}

async function close(live: Live): Promise<void> {
  const i = opened.indexOf(live);
  if (i >= 0) opened.splice(i, 1);
  await live.system.close().catch((e: unknown) => log(`  closing ${live.descriptor.label}: ${String(e)}`));
  if (live.database) await dropDatabase(live.database).catch((e: unknown) => log(`  dropping ${live.database}: ${String(e)}`));
  rmSync(live.workDir, { recursive: true, force: true });
}

async function cleanup(): Promise<void> {
  for (const live of [...opened]) await close(live);
  await dropGrowthDatabases();
  rmSync(scratch, { recursive: true, force: true });
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

function machineInfo(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    commit: gitCommit(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? '?',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

async function selectSystems(config: BenchConfig): Promise<{ run: SystemDescriptor[]; info: SystemInfo[] }> {
  const wanted = (d: SystemDescriptor) =>
    config.systems.length === 0 || config.systems.includes(d.id) || d.id === 'raw' || d.id === 'seed';
  const run: SystemDescriptor[] = [];
  const info: SystemInfo[] = [];
  for (const d of SYSTEMS.filter(wanted)) {
    const reason = d.unavailable ? await d.unavailable() : null;
    info.push({ id: d.id, label: d.label, description: d.description, embedded: d.embedded ?? false, ...(reason ? { unavailable: reason } : {}) });
    if (reason) log(`${d.label}: left out: ${reason}`);
    else run.push(d);
  }
  return { run, info };
}

/** A store of its own for the subscription measurements: a fresh database, or a scratch data directory. */
async function subscriptionPhase(engine: 'server' | 'embedded', config: BenchConfig): Promise<SubscriptionMeasurement> {
  const openEventStore = await loadApi();
  const database = engine === 'server' ? benchDatabaseName('subscriptions') : null;
  const dataDir = join(scratch, 'subscriptions');
  const pool = database ? ignoreIdleErrors(new pg.Pool({ connectionString: await recreateDatabase(database), max: 4 })) : null;
  const store = pool ? await openEventStore({ pool }) : await openEventStore({ dataDir });
  try {
    await store.migrate();
    return await measureSubscriptions(store, engine, { catchUpEvents: config.subscriptionEvents, liveEvents: config.liveEvents }, log);
  } finally {
    await store.close();
    await pool?.end();
    if (database) await dropDatabase(database).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** store.handle and snapshots (issue 14) on a server store of their own. */
async function commandPhase(config: BenchConfig): Promise<CommandMeasurement> {
  const openEventStore = await loadApi();
  const database = benchDatabaseName('commands');
  const pool = ignoreIdleErrors(new pg.Pool({ connectionString: await recreateDatabase(database), max: 8 }));
  const store = await openEventStore({ pool });
  try {
    await store.migrate();
    return await measureCommands(store, { seconds: config.commandSeconds, rounds: config.commandRounds }, log);
  } finally {
    await store.close();
    await pool.end();
    await dropDatabase(database).catch(() => undefined);
  }
}

async function main(): Promise<number> {
  const parsed = parseArgs(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const config = parsed;
  const started = new Date();
  const server = await serverInfo();
  log(`pgevents bench${config.quick ? ' (quick)' : ''}: ${new URL(serverUrl()).host}, ${server.version.split(',')[0]}`);
  const { run, info } = await selectSystems(config);
  const loadSamples = [loadAverage()];
  const loadTimer = setInterval(() => loadSamples.push(loadAverage()), 5_000);
  loadTimer.unref();

  const results: BenchResults = {
    startedAt: started.toISOString(),
    finishedAt: '',
    durationSeconds: 0,
    quick: config.quick,
    machine: machineInfo(),
    load: { samples: 0, min: 0, median: 0, max: 0 },
    server,
    config: { ...config },
    systems: info,
    modes: [],
    cells: {},
    ratios: {},
    goals: [],
    subscriptions: [],
    errors: [],
  };

  const appendModes = config.modes.filter((m) => MODE_INFO[m].batchSize !== undefined);
  const loadModes = config.modes.filter((m) => MODE_INFO[m].batchSize === undefined && m !== 'growth');

  // Append modes: every system on its own database, all open at once, runs interleaved.
  if (appendModes.length > 0) {
    const live: Live[] = [];
    for (const d of run) {
      try {
        live.push(await open(d));
      } catch (error) {
        log(`${d.label}: setup failed: ${String(error)}`);
        results.errors.push(`${d.label}: setup failed: ${String(error)}`);
        for (const m of config.modes) (results.cells[m] ??= {})[d.id] = { kind: 'error', message: `setup: ${String(error)}` };
      }
    }
    const ledgers = new Map(live.map((l) => [l.system.id, new Ledger()]));
    const databases = new Map(live.flatMap((l) => (l.database ? [[l.system.id, l.database] as const] : [])));
    for (const mode of appendModes) {
      log(`\n== ${MODE_INFO[mode].title}: warm-up ${config.warmupMs / 1000} s, ${config.runs} × ${config.runMs / 1000} s`);
      results.modes.push({ id: mode, title: MODE_INFO[mode].title });
      const cells = await runAppendMode({
        mode: MODE_INFO[mode],
        systems: live.map((l) => l.system),
        ledgers,
        databases,
        runs: config.runs,
        runMs: config.runMs,
        warmupMs: config.warmupMs,
        eventsPerStream: config.eventsPerStream,
        log,
      });
      results.cells[mode] = { ...(results.cells[mode] ?? {}), ...cells };
    }
    for (const l of live) await close(l);
  }

  // Bulk, replay, rebuild: one system at a time, each on a fresh database.
  if (loadModes.length > 0) {
    for (const mode of loadModes) {
      results.cells[mode] ??= {};
    }
    const serverEvents = config.bulkEvents;
    log(
      `\n== bulk load, replay, rebuild: ${serverEvents.toLocaleString('en-US')} events (${config.replayRuns} replay, ${config.rebuildRuns} rebuild runs)`,
    );
    for (const d of run) {
      const source = bulkSource(d.embedded ? config.embeddedReplayEvents : serverEvents, config.eventsPerStream);
      let live: Live | null = null;
      try {
        live = await open(d);
        const r = await runLoadPhase({
          system: live.system,
          source,
          wantBulk: loadModes.includes('bulk'),
          wantReplay: loadModes.includes('replay'),
          wantRebuild: loadModes.includes('rebuild'),
          replayRuns: config.replayRuns,
          rebuildRuns: config.rebuildRuns,
          log,
          ...(d.embedded ? { note: `${source.total.toLocaleString('en-US')} events (embedded engine)` } : {}),
        });
        for (const m of ['bulk', 'replay', 'rebuild'] as const) {
          const cell = r[m];
          if (cell && loadModes.includes(m)) results.cells[m]![d.id] = cell;
        }
      } catch (error) {
        log(`${d.label}: ${String(error)}`);
        for (const m of loadModes) results.cells[m]![d.id] = { kind: 'error', message: String(error) };
      } finally {
        if (live) await close(live);
      }
    }
    for (const mode of loadModes) results.modes.push({ id: mode, title: MODE_INFO[mode].title, events: serverEvents });
  }

  // Growth: pgevents in stores already holding N events, one size at a time, each on a fresh database.
  if (config.modes.includes('growth')) {
    results.modes.push({ id: 'growth', title: MODE_INFO.growth.title });
    const stores = await measureGrowth(config.growthSizes, {
      runs: config.runs,
      runMs: config.runMs,
      warmupMs: config.warmupMs,
      eventsPerStream: config.eventsPerStream,
      catchUpEvents: config.growthCatchUpEvents,
      reads: config.growthReads,
      log,
    });
    results.growth = growthReport(stores);
    for (const s of stores) results.errors.push(...s.errors.map((e) => `growth: ${e}`));
  }

  // Subscriptions: catch-up and live delivery through the API, on each engine's own store (not in
  // a growth-only run: it measures the catch-up in its own stores, and leaves the side-by-side results alone).
  if (config.subscriptionEvents > 0 && config.modes.some((m) => m !== 'growth')) {
    log(`\n== subscriptions: catch-up over ${config.subscriptionEvents.toLocaleString('en-US')} events, ${config.liveEvents} live appends`);
    for (const engine of ['server', 'embedded'] as const) {
      try {
        results.subscriptions.push(await subscriptionPhase(engine, config));
      } catch (error) {
        log(`  subscriptions (${engine}): ${String(error)}`);
        results.errors.push(`subscriptions (${engine}): ${String(error)}`);
      }
    }
  }

  if (config.commandSeconds > 0 && config.modes.some((m) => m !== 'growth')) {
    log(`\n== commands and snapshots: ${config.commandRounds} × ${config.commandSeconds} s per caller count`);
    try {
      results.commands = await commandPhase(config);
    } catch (error) {
      log(`  commands: ${String(error)}`);
      results.errors.push(`commands: ${String(error)}`);
    }
  }

  if (config.tenants > 0 && !config.replicaOnly && config.modes.some((m) => m !== 'growth')) {
    log(`\n== tenants: ${config.tenants.toLocaleString('en-US')} tenant stores created, migrated and listed`);
    try {
      results.tenants = await measureTenantMigrations({ tenants: config.tenants, concurrency: 4 }, log);
    } catch (error) {
      log(`  tenants: ${String(error)}`);
      results.errors.push(`tenants: ${String(error)}`);
    }
  }

  // Partitioned events against one table (issue 16): two stores of their own per engine, and the move.
  if (config.partitionedRounds > 0 && (config.partitionedOnly || config.modes.some((m) => m !== 'growth'))) {
    log(
      `\n== partitioned events: one table against ${config.partitions} partitions, ${config.partitionedRounds} rounds; ` +
        `moves of ${config.partitionedMoveEvents.map(fmtCount).join(', ')} events`,
    );
    const engines = config.partitionedEmbedded ? (['server', 'embedded'] as const) : (['server'] as const);
    results.partitioned = [];
    for (const engine of engines) {
      const measured = await measurePartitioned(engine, {
        partitions: config.partitions,
        rounds: config.partitionedRounds,
        runMs: config.runMs,
        storedEvents: config.partitionedEvents,
        reads: config.partitionedReads,
        moveSizes: engine === 'server' ? config.partitionedMoveEvents : config.partitionedMoveEvents.slice(0, 1),
        workDir: scratch,
        log,
      });
      results.partitioned.push(measured);
      results.errors.push(...measured.errors.map((e) => `partitioned (${engine}): ${e}`));
    }
  }

  // Replica lag: a primary and a hot standby of their own (throwaway clusters), not the bench server.
  if (config.replicaEvents > 0 && (config.replicaOnly || config.modes.some((m) => m !== 'growth'))) {
    log(`\n== replica lag: ${config.replicaEvents} appends on the primary, delivered from the primary and from a hot standby`);
    const reason = replicaUnavailable();
    if (reason) {
      log(`  replica lag: left out: ${reason} (--no-replica skips it)`);
    } else {
      try {
        results.replica = await measureReplicaLag(config.replicaEvents, log);
      } catch (error) {
        log(`  replica lag: ${String(error)}`);
        results.errors.push(`replica lag: ${String(error)}`);
      }
    }
  }

  clearInterval(loadTimer);
  loadSamples.push(loadAverage());
  results.load = {
    samples: loadSamples.length,
    min: Math.min(...loadSamples),
    median: median(loadSamples),
    max: Math.max(...loadSamples),
  };
  results.ratios = computeRatios(results);
  results.goals = evaluateGoals(results);
  for (const [mode, row] of Object.entries(results.cells)) {
    for (const [id, cell] of Object.entries(row ?? {})) {
      if (cell.kind === 'error') results.errors.push(`${id} ${mode as ModeId}: ${cell.message}`);
    }
  }
  const finished = new Date();
  results.finishedAt = finished.toISOString();
  results.durationSeconds = Math.round((finished.getTime() - started.getTime()) / 1000);

  // A growth-only run leaves the side-by-side results (JSON, chart, README section) of the full run alone.
  const sideBySide = Object.keys(results.cells).length > 0 || results.subscriptions.length > 0;
  if (sideBySide) process.stdout.write('\n' + consoleReport(results) + '\n');
  if (results.growth) process.stdout.write('\n' + growthConsole(results.growth) + '\n');
  if (results.partitioned) process.stdout.write('\npartitioned events (ratio: partitioned / one table)\n' + partitionedTables(results.partitioned).join('\n') + '\n');
  if (results.replica) process.stdout.write('\nreplica lag (append on the primary → subscription handler)\n' + replicaSummary(results.replica).join('\n') + '\n');

  const outDir = config.outDir ?? join(os.tmpdir(), 'pgevents-bench-results');
  const suffix = sideBySide ? '' : results.growth ? '-growth' : results.partitioned && !results.replica ? '-partitioned' : '-replica';
  const jsonFile = writeJson(results, outDir, suffix);
  const written = [jsonFile];
  if (sideBySide) {
    const svgFile = join(outDir, 'latest.svg');
    writeFileSync(svgFile, ratioChart(results));
    written.push(svgFile);
  }
  log(`\nwrote ${written.join(' and ')} (${results.durationSeconds} s in all)`);
  if (config.writeReadme) {
    const readme = new URL('./README.md', import.meta.url).pathname;
    if (sideBySide && updateReadme(readme, markdownReport(results))) log(`updated ${readme}`);
    if (results.growth && updateReadme(readme, growthMarkdown(results.growth, growthContext(results, jsonFile)), 'growth')) {
      log(`updated the growth section of ${readme}`);
    }
    if (results.replica && updateReadme(readme, replicaMarkdown(results, jsonFile), 'replica')) {
      log(`updated the replica section of ${readme}`);
    }
    if (results.partitioned && updateReadme(readme, partitionedMarkdown(results, results.partitioned, jsonFile), 'partitioned')) {
      log(`updated the partitioned section of ${readme}`);
    }
  }
  return results.errors.length > 0 ? 1 : 0;
}

/** The line above the growth tables: the run, the machine and how busy it was. */
function growthContext(results: BenchResults, jsonFile: string): string {
  const m = results.machine;
  const g = results.growth!;
  const catchUp = g.stores[0]?.catchUp?.events;
  return (
    `Run of ${results.startedAt.slice(0, 10)} at commit ${m.commit}, ${results.durationSeconds} s in all: stores of ${g.stores.map((s) => fmtCount(s.size)).join(', ')} events; ` +
    `appends ${results.config.runs} × ${Number(results.config.runMs) / 1000} s per mode after a ${Number(results.config.warmupMs) / 1000} s warm-up; ` +
    `${results.config.growthReads} readStream calls; catch-up over ${catchUp === undefined ? '?' : fmtCount(catchUp)} events. ` +
    `${m.cpus} × ${m.cpuModel}, ${results.server.version.split(' on ')[0]}; 1-minute load average during the run: median ${results.load.median.toFixed(1)}, max ${results.load.max.toFixed(1)}. ` +
    `Results: \`bench/results/${jsonFile.split('/').at(-1)}\`.`
  );
}

/** The replica section of bench/README.md: the run, then the table. */
function replicaMarkdown(results: BenchResults, jsonFile: string): string {
  const m = results.machine;
  const r = results.replica!;
  return [
    `Run of ${results.startedAt.slice(0, 10)} at commit ${m.commit}: ${r.standby.events} appends of one event, one after the other, on the primary; ` +
      `the time from the \`append\` call to the handler of a live subscription reading the primary, then of one reading the hot standby ` +
      `(its checkpoint on the primary). ${r.server}, primary and standby on unix sockets of the same machine (asynchronous streaming ` +
      `replication, server defaults); ${m.cpus} × ${m.cpuModel}, 1-minute load average during the run: median ${results.load.median.toFixed(1)}, max ${results.load.max.toFixed(1)}. ` +
      `Results: \`bench/results/${jsonFile.split('/').at(-1)}\`.`,
    '',
    ...replicaSummary(r),
  ].join('\n');
}

/** The partitioned section of bench/README.md: the run, then the tables. */
function partitionedMarkdown(results: BenchResults, measured: PartitionedEngineMeasurement[], jsonFile: string): string {
  const m = results.machine;
  const first = measured[0]!;
  return [
    `Run of ${results.startedAt.slice(0, 10)} at commit ${m.commit}: one events table against ${first.partitions} hash partitions by stream, ` +
      `${first.rounds} rounds of every workload on both stores in turn (appends ${first.runMs / 1000} s a run), after both were filled with ` +
      `${first.storedEvents.toLocaleString('en-US')} events; the moves on stores of their own. ${m.cpus} × ${m.cpuModel}, ${results.server.version.split(' on ')[0]}; ` +
      `1-minute load average during the run: median ${results.load.median.toFixed(1)}, max ${results.load.max.toFixed(1)}. ` +
      `Results: \`bench/results/${jsonFile.split('/').at(-1)}\`.`,
    '',
    ...partitionedTables(measured),
    ...(measured.some((e) => e.errors.length > 0) ? ['', ...measured.flatMap((e) => e.errors.map((error) => `- error (${e.engine}): ${error}`))] : []),
  ].join('\n');
}

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log('interrupted: dropping the benchmark databases…');
  cleanup().finally(() => process.exit(130));
});

main()
  .then(async (code) => {
    await cleanup();
    process.exitCode = code;
  })
  .catch(async (error: unknown) => {
    log(String(error instanceof Error ? (error.stack ?? error.message) : error));
    await cleanup().catch(() => undefined);
    process.exitCode = 1;
  });
