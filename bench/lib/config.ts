/** Command-line options of `npm run bench`. */
import { DEFAULT_MODES, MODES, type ModeId } from './types.js';

export interface BenchConfig {
  quick: boolean;
  /** Measured runs per append mode and system. */
  runs: number;
  /** Length of one measured append run. */
  runMs: number;
  /** Length of the unrecorded warm-up run before the append modes. */
  warmupMs: number;
  /** Events per stream (user) in the 1-event modes and in the bulk load. */
  eventsPerStream: number;
  /** Events in the bulk load that the replay and rebuild modes then read. */
  bulkEvents: number;
  /** Runs of the replay (over all loaded events). */
  replayRuns: number;
  /** Runs of the set-based rebuild. */
  rebuildRuns: number;
  /** Events loaded for the embedded engine's replay (it has no COPY here; loaded by append). */
  embeddedReplayEvents: number;
  /** Stored events a new subscription catches up with, and appends timed to a live one (0: skip). */
  subscriptionEvents: number;
  liveEvents: number;
  /** Seconds per measurement of store.handle and snapshots (issue 14; 0: skip), and its rounds. */
  commandSeconds: number;
  commandRounds: number;
  /** Appends timed to a live subscription reading a hot standby, and one reading the primary (0: skip). */
  replicaEvents: number;
  /** Run only the replica phase (and write only its section of bench/README.md). */
  replicaOnly: boolean;
  /** Tenant stores created and migrated in the tenants phase (issue 16); 0 skips it. */
  tenants: number;
  /** Rounds of the partitioned phase's side-by-side workloads (issue 16); 0 skips the phase. */
  partitionedRounds: number;
  /** Hash partitions of the partitioned store, and of the moves. */
  partitions: number;
  /** Events stored in both stores before the partitioned phase's reads. */
  partitionedEvents: number;
  /** readStream calls per round and store in the partitioned phase. */
  partitionedReads: number;
  /** Stores (events) moved to partitions with partitionEvents; the embedded engine moves the smallest only. */
  partitionedMoveEvents: number[];
  /** The partitioned phase on the embedded engine too. */
  partitionedEmbedded: boolean;
  /** Run only the partitioned phase (and write only its section of bench/README.md). */
  partitionedOnly: boolean;
  /** Stores the growth mode fills first (events already stored when it measures). */
  growthSizes: number[];
  /** Events imported after the fill that a new subscription then catches up with (growth mode). */
  growthCatchUpEvents: number;
  /** readStream calls timed per store (growth mode). */
  growthReads: number;
  modes: ModeId[];
  /** Only these system ids (all when empty). */
  systems: string[];
  /** Directory for <date>.json and latest.svg. */
  outDir: string | null;
  /** Rewrite the results section of bench/README.md. */
  writeReadme: boolean;
}

const HELP = `Usage: npm run bench -- [options]

  --quick                 smoke test: seconds, tiny sizes, results to a temp directory
  --runs N                measured runs per append mode and system (default 5)
  --run-seconds S         length of one append run (default 2)
  --warmup-seconds S      unrecorded warm-up per append mode and system (default 1)
  --bulk-events N         events in the bulk load / replay (default 1000000)
  --replay-runs N         runs of the replay (default 1: one 1M replay takes about a minute)
  --rebuild-runs N        runs of the set-based rebuild (default 3)
  --embedded-events N     events for the embedded engine's replay (default 100000)
  --subscription-events N stored events a new subscription catches up with (default 200000)
  --live-events N         appends timed from the append call to a live subscription's handler (default 2000)
  --no-subscriptions      skip the subscription measurements (so does --modes growth alone)
  --tenants N             tenant stores created and migrated in the tenants phase (default 1000)
  --no-tenants            skip the tenants phase
  --partitions N          partitioned phase: hash partitions of the partitioned store and of the move (default 16)
  --partitioned-rounds N  partitioned phase: rounds of each workload on both stores, interleaved (default 3)
  --partitioned-events N  partitioned phase: events stored in both stores before the reads (default 100000)
  --partitioned-reads N   partitioned phase: readStream calls per round and store (default 300)
  --partitioned-move-events a,b  partitioned phase: stores of these sizes moved with partitionEvents (default 100000,1000000;
                          the embedded engine moves the smallest)
  --no-partitioned-embedded  partitioned phase on the server only
  --no-partitioned        skip the partitioned phase
  --partitioned-only      run only the partitioned phase
  --no-commands           skip the store.handle and snapshot measurements (so does --modes growth alone)
  --replica-events N      replica lag: appends timed to a subscription reading a hot standby (default 2000)
  --no-replica            skip the replica lag (it starts a primary and a standby cluster of its own)
  --replica-only          run only the replica lag
  --modes a,b             only these modes: ${MODES.join(', ')} (default: all but growth)
  --growth-sizes a,b      growth: stores filled to these numbers of events first (default 0,1000000,10000000)
  --growth-catch-up-events N  growth: events a new subscription catches up with in each store (default 100000)
  --growth-reads N        growth: readStream calls of 10-event streams timed in each store (default 2000)
  --systems a,b           only these systems (ids as in the JSON; raw and seed are always kept for the ratios)
  --out DIR               where to write <date>.json and latest.svg (default bench/results; --quick: a temp dir)
  --no-readme             do not rewrite the results section of bench/README.md
`;

function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number, got ${value}`);
  return n;
}

export function parseArgs(argv: string[]): BenchConfig | 'help' {
  const quick = argv.includes('--quick');
  const config: BenchConfig = quick
    ? {
        quick,
        runs: 1,
        runMs: 300,
        warmupMs: 100,
        eventsPerStream: 10,
        bulkEvents: 2_000,
        replayRuns: 1,
        rebuildRuns: 1,
        embeddedReplayEvents: 500,
        subscriptionEvents: 1_000,
        liveEvents: 20,
        commandSeconds: 0.3,
        commandRounds: 1,
        replicaEvents: 50,
        replicaOnly: false,
        tenants: 20,
        partitionedRounds: 1,
        partitions: 16,
        partitionedEvents: 2_000,
        partitionedReads: 30,
        partitionedMoveEvents: [5_000],
        partitionedEmbedded: true,
        partitionedOnly: false,
        growthSizes: [0, 20_000],
        growthCatchUpEvents: 2_000,
        growthReads: 200,
        modes: [...DEFAULT_MODES],
        systems: [],
        outDir: null,
        writeReadme: false,
      }
    : {
        quick,
        runs: 5,
        runMs: 2_000,
        warmupMs: 1_000,
        eventsPerStream: 10,
        bulkEvents: 1_000_000,
        replayRuns: 1,
        rebuildRuns: 3,
        embeddedReplayEvents: 100_000,
        subscriptionEvents: 200_000,
        liveEvents: 2_000,
        commandSeconds: 5,
        commandRounds: 3,
        replicaEvents: 2_000,
        replicaOnly: false,
        tenants: 1_000,
        partitionedRounds: 3,
        partitions: 16,
        partitionedEvents: 100_000,
        partitionedReads: 300,
        partitionedMoveEvents: [100_000, 1_000_000],
        partitionedEmbedded: true,
        partitionedOnly: false,
        growthSizes: [0, 1_000_000, 10_000_000],
        growthCatchUpEvents: 100_000,
        growthReads: 2_000,
        modes: [...DEFAULT_MODES],
        systems: [],
        outDir: 'bench/results',
        writeReadme: true,
      };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--quick':
        break;
      case '-h':
      case '--help':
        return 'help';
      case '--runs':
        config.runs = Math.round(positive(arg, value()));
        break;
      case '--run-seconds':
        config.runMs = positive(arg, value()) * 1000;
        break;
      case '--warmup-seconds':
        config.warmupMs = positive(arg, value()) * 1000;
        break;
      case '--bulk-events':
        config.bulkEvents = Math.round(positive(arg, value()));
        break;
      case '--replay-runs':
        config.replayRuns = Math.round(positive(arg, value()));
        break;
      case '--rebuild-runs':
        config.rebuildRuns = Math.round(positive(arg, value()));
        break;
      case '--embedded-events':
        config.embeddedReplayEvents = Math.round(positive(arg, value()));
        break;
      case '--modes': {
        const modes = value().split(',').filter(Boolean);
        for (const m of modes) if (!(MODES as readonly string[]).includes(m)) throw new Error(`unknown mode ${m}`);
        config.modes = MODES.filter((m) => modes.includes(m));
        break;
      }
      case '--systems':
        config.systems = value().split(',').filter(Boolean);
        break;
      case '--out':
        config.outDir = value();
        break;
      case '--subscription-events':
        config.subscriptionEvents = Math.round(positive(arg, value()));
        break;
      case '--live-events':
        config.liveEvents = Math.round(positive(arg, value()));
        break;
      case '--growth-sizes': {
        const sizes = value().split(',').filter(Boolean).map((v) => Number(v));
        if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 0)) {
          throw new Error(`${arg} needs a comma list of event counts (0 or more), got ${argv[i]}`);
        }
        config.growthSizes = [...new Set(sizes)].sort((a, b) => a - b);
        break;
      }
      case '--growth-catch-up-events':
        config.growthCatchUpEvents = Math.round(positive(arg, value()));
        break;
      case '--growth-reads':
        config.growthReads = Math.round(positive(arg, value()));
        break;
      case '--tenants':
        config.tenants = Math.round(positive(arg, value()));
        break;
      case '--no-tenants':
        config.tenants = 0;
        break;
      case '--partitions': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 2 || n > 1024) throw new Error(`${arg} needs a number of partitions from 2 to 1024, got ${argv[i]}`);
        config.partitions = n;
        break;
      }
      case '--partitioned-rounds':
        config.partitionedRounds = Math.round(positive(arg, value()));
        break;
      case '--partitioned-events':
        config.partitionedEvents = Math.round(positive(arg, value()));
        break;
      case '--partitioned-reads':
        config.partitionedReads = Math.round(positive(arg, value()));
        break;
      case '--partitioned-move-events': {
        const sizes = value().split(',').filter(Boolean).map((v) => Number(v));
        if (sizes.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`${arg} needs a comma list of event counts, got ${argv[i]}`);
        config.partitionedMoveEvents = [...new Set(sizes.filter((n) => n > 0))].sort((a, b) => a - b);
        break;
      }
      case '--no-partitioned-embedded':
        config.partitionedEmbedded = false;
        break;
      case '--no-partitioned':
        config.partitionedRounds = 0;
        break;
      case '--partitioned-only':
        config.partitionedOnly = true;
        break;
      case '--no-subscriptions':
        config.subscriptionEvents = 0;
        break;
      case '--no-commands':
        config.commandSeconds = 0;
        break;
      case '--replica-events':
        config.replicaEvents = Math.round(positive(arg, value()));
        break;
      case '--no-replica':
        config.replicaEvents = 0;
        break;
      case '--replica-only':
        config.replicaOnly = true;
        break;
      case '--no-readme':
        config.writeReadme = false;
        break;
      default:
        throw new Error(`unknown option ${arg}\n\n${HELP}`);
    }
  }
  if (config.replicaOnly && config.replicaEvents === 0) throw new Error('--replica-only and --no-replica leave nothing to run');
  if (config.partitionedOnly && config.partitionedRounds === 0) throw new Error('--partitioned-only and --no-partitioned leave nothing to run');
  if (config.replicaOnly || config.partitionedOnly) {
    // Only the phases asked for (both when both are).
    config.modes = [];
    config.subscriptionEvents = 0;
    config.commandSeconds = 0;
    config.tenants = 0;
    if (!config.replicaOnly) config.replicaEvents = 0;
    if (!config.partitionedOnly) config.partitionedRounds = 0;
  }
  const unit = config.eventsPerStream;
  config.bulkEvents = Math.max(unit, Math.round(config.bulkEvents / unit) * unit);
  config.growthSizes = config.growthSizes.map((n) => Math.round(n / unit) * unit);
  config.growthCatchUpEvents = Math.max(unit, Math.round(config.growthCatchUpEvents / unit) * unit);
  config.partitionedMoveEvents = config.partitionedMoveEvents.map((n) => Math.max(unit, Math.round(n / unit) * unit));
  config.embeddedReplayEvents = Math.max(100, Math.round(config.embeddedReplayEvents / 100) * 100);
  return config;
}

export { HELP };
