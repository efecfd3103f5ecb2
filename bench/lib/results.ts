/** The shape of a benchmark run's results (also the JSON written to bench/results/). */
import type { GrowthReport } from './growth-report.js';
import type { Summary } from './stats.js';
import type { CommandMeasurement } from './commands.js';
import type { PartitionedEngineMeasurement } from './partitioned.js';
import type { ReplicaMeasurement } from './replica.js';
import type { TenantMeasurement } from './tenants.js';
import type { SubscriptionMeasurement } from './subscriptions.js';
import type { ModeId } from './types.js';

export interface RunSample {
  events: number;
  seconds: number;
  /** events / seconds */
  rate: number;
  /** Server backend CPU per event, µs (null when the server's processes cannot be read). */
  serverCpuUs?: number | null;
  /** This Node process's CPU per event, µs (the client library's share). */
  clientCpuUs?: number;
}

export type Cell =
  | {
      kind: 'measured';
      runs: RunSample[];
      summary: Summary;
      /** Medians over the runs of the CPU per event, µs. */
      cpu?: { server: number | null; client: number };
      note?: string;
    }
  | { kind: 'unsupported'; reason: string }
  | { kind: 'error'; message: string };

export interface SystemInfo {
  id: string;
  label: string;
  description: string;
  embedded: boolean;
  /** Why the system was left out of this run, if it was. */
  unavailable?: string;
}

export interface Ratios {
  /** median / raw INSERT median of the same mode, same run. */
  vsRaw: number | null;
  /** median / seed median of the same mode, same run. */
  vsSeed: number | null;
  /** median / Emmett + inline projection median of the same mode, same run. */
  vsEmmettInline: number | null;
}

export interface Goal {
  text: string;
  /** true / false when measured; null when it could not be evaluated in this run. */
  met: boolean | null;
  detail: string;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  quick: boolean;
  machine: Record<string, string | number>;
  /** 1-minute load average sampled through the run: how busy the machine was with everything. */
  load: { samples: number; min: number; median: number; max: number };
  server: { version: string; settings: Record<string, string> };
  config: Record<string, unknown>;
  systems: SystemInfo[];
  modes: { id: ModeId; title: string; events?: number }[];
  /** cells[mode][system] */
  cells: Partial<Record<ModeId, Record<string, Cell>>>;
  ratios: Partial<Record<ModeId, Record<string, Ratios>>>;
  goals: Goal[];
  /** pgevents subscriptions: catch-up rate and live delivery latency, per engine. */
  subscriptions: SubscriptionMeasurement[];
  /** store.handle against store.append, and snapshots against a live fold (issue 14). */
  commands?: CommandMeasurement;
  /** Replica lag (issue 16): a live subscription reading a hot standby against one reading the primary. */
  replica?: ReplicaMeasurement;
  /** Creating and migrating many tenant stores in one database (issue 16). */
  tenants?: TenantMeasurement;
  /** Partitioned events against one table, side by side, and the move's downtime (issue 16), per engine. */
  partitioned?: PartitionedEngineMeasurement[];
  /** The growth mode (issue 13): each store size's measurements and their ratios to the smallest store. */
  growth?: GrowthReport;
  errors: string[];
}
