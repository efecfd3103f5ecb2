import type { Executor } from '../db/executor.js';
import { toInteger, toIntegerOrNull } from '../db/normalize.js';
import { schemaVersion } from '../migrations/runner.js';
import { projectionStatuses } from '../rebuild/health.js';
import { countHeldBackEvents } from '../store/held-back.js';
import { listSubscriptions } from '../subscriptions/manage.js';
import { canReadSubscriptions } from './status.js';

/** One sample of a metric: its labels and value. */
export interface MetricSample {
  /** For a histogram's samples: `_bucket` (with an `le` label), `_sum` or `_count` after the family's name. */
  suffix?: '_bucket' | '_sum' | '_count';
  labels: Record<string, string>;
  value: number;
}

/** A metric with its samples, as Prometheus' text format groups them. */
export interface MetricFamily {
  /** `pgevents_…` */
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'histogram';
  samples: MetricSample[];
}

/** Held-back events are counted up to this many, so that a scrape stays bounded. */
const HELD_BACK_CAP = 10_000;

function family(name: string, type: MetricFamily['type'], help: string, samples: MetricSample[]): MetricFamily {
  return { name, type, help, samples };
}

const one = (value: number, labels: Record<string, string> = {}): MetricSample[] => [{ labels, value }];

/**
 * The store's state as metrics, without counting the whole log: the last
 * position, streams, events held back and the age of the oldest writing transaction, each
 * subscription's lag and state, each projection's state and staleness, rebuild progress.
 */
export async function collectMetrics(executor: Executor, schema: string): Promise<MetricFamily[]> {
  const version = await schemaVersion(executor, schema);
  const [log] = await executor.query<{ last_position: unknown; streams: unknown; oldest_writer_seconds: unknown }>(
    `select (select max(id) from ${schema}.events) as last_position,
            (select count(*) from ${schema}.streams where version > 0) as streams,
            (select coalesce(extract(epoch from clock_timestamp() - min(a.xact_start)), 0)
               from pg_stat_activity a
              where a.datname = current_database() and a.backend_xid is not null and a.pid <> pg_backend_pid()) as oldest_writer_seconds`,
  );
  const families: MetricFamily[] = [
    family('pgevents_info', 'gauge', 'The store: engine, schema and migration version (always 1).', one(1, { engine: executor.engine, schema, schema_version: String(version) })),
    family(
      'pgevents_last_position',
      'gauge',
      'Position of the newest event (0: none). Positions rise with every append, with gaps: deriv() over it approximates the append rate.',
      one(toIntegerOrNull(log?.last_position) ?? 0),
    ),
    family('pgevents_streams', 'gauge', 'Streams that hold events.', one(toInteger(log?.streams ?? 0))),
    family(
      'pgevents_held_back_events',
      'gauge',
      `Committed events that gap-safe readers hold back because an older transaction that may write events is still open (counted up to ${HELD_BACK_CAP}).`,
      one(await countHeldBackEvents(executor, schema, HELD_BACK_CAP)),
    ),
    family(
      'pgevents_oldest_writing_transaction_seconds',
      'gauge',
      'Age of the oldest open transaction of this database that took a transaction id: how long it can hold gap-safe readers back.',
      one(Number(log?.oldest_writer_seconds ?? 0)),
    ),
  ];

  const subscriptions = (await canReadSubscriptions(executor, schema, version)) ? await listSubscriptions(executor, schema) : [];
  const bySubscription = (value: (s: (typeof subscriptions)[number]) => number) =>
    subscriptions.map((s) => ({ labels: { subscription: s.name, kind: s.kind }, value: value(s) }));
  families.push(
    family('pgevents_subscription_lag_events', 'gauge', 'Events after the subscription\'s checkpoint still to handle (of its types).', bySubscription((s) => s.lagEvents)),
    family('pgevents_subscription_lag_seconds', 'gauge', 'How long the oldest event still to handle has waited.', bySubscription((s) => s.lagSeconds)),
    family('pgevents_subscription_running', 'gauge', '1 while a runner holds the subscription.', bySubscription((s) => (s.state === 'running' ? 1 : 0))),
    family('pgevents_subscription_failed', 'gauge', '1 when the subscription stopped on an event it failed to deliver.', bySubscription((s) => (s.state === 'failed' ? 1 : 0))),
    family('pgevents_subscription_failed_attempts', 'gauge', 'Failed deliveries in a row of the event the subscription is at.', bySubscription((s) => s.attempts)),
  );

  const projections = await projectionStatuses(executor, schema, version);
  const byProjection = (value: (p: (typeof projections)[number]) => number | null) =>
    projections.flatMap((p) => {
      const v = value(p);
      return v === null ? [] : [{ labels: { projection: p.name, kind: p.kind }, value: v }];
    });
  families.push(
    family(
      'pgevents_projection_state',
      'gauge',
      'The projection\'s state (live, stale, rebuilding, needs_rebuild, failed, unknown): 1 for its current one.',
      projections.map((p) => ({ labels: { projection: p.name, kind: p.kind, state: p.state.replace(/ /g, '_') }, value: 1 })),
    ),
    family('pgevents_projection_stale_events', 'gauge', 'Materialized views: events committed since the last refresh.', byProjection((p) => p.staleEvents)),
    family('pgevents_projection_rows', 'gauge', 'Rows in the projection\'s tables (the planner\'s estimate above a million).', byProjection((p) => p.rows)),
    family('pgevents_rebuild_progress_ratio', 'gauge', 'Progress of the projection\'s unfinished online rebuild, 0 to 1.', byProjection((p) => (p.rebuildPercent === null ? null : p.rebuildPercent / 100))),
  );
  return families;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Metrics in Prometheus' text exposition format (version 0.0.4). */
export function prometheusText(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    for (const sample of f.samples) {
      const labels = Object.entries(sample.labels).map(([key, value]) => `${key}="${escapeLabel(value)}"`);
      lines.push(`${f.name}${sample.suffix ?? ''}${labels.length > 0 ? `{${labels.join(',')}}` : ''} ${formatValue(sample.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
