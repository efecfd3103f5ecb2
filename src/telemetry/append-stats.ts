import type { MetricFamily, MetricSample } from '../status/metrics.js';

/** Upper bounds (seconds) of the append latency histogram's buckets. */
export const APPEND_DURATION_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Appends made through one store object since it opened, as Prometheus counts them in the process
 * that appends: events by type and the latency of each append call (cumulative, reset when the
 * process restarts, which `rate()` and `histogram_quantile()` expect). The database cannot say
 * these without counting its log, so every writer serves its own.
 */
export class AppendStats {
  readonly #byType = new Map<string, number>();
  /** Appends at most as long as each bucket's bound (cumulative), then the count of all. */
  readonly #buckets = new Array<number>(APPEND_DURATION_BUCKETS.length).fill(0);
  #count = 0;
  #sum = 0;

  record(byType: ReadonlyMap<string, number>, seconds: number): void {
    for (const [type, count] of byType) this.#byType.set(type, (this.#byType.get(type) ?? 0) + count);
    for (let i = 0; i < APPEND_DURATION_BUCKETS.length; i++) if (seconds <= APPEND_DURATION_BUCKETS[i]!) this.#buckets[i]! += 1;
    this.#count += 1;
    this.#sum += seconds;
  }

  families(): MetricFamily[] {
    const byType: MetricSample[] = [...this.#byType].sort(([a], [b]) => (a < b ? -1 : 1)).map(([type, value]) => ({ labels: { type }, value }));
    const histogram: MetricSample[] = [
      ...APPEND_DURATION_BUCKETS.map((bound, i) => ({ suffix: '_bucket' as const, labels: { le: String(bound) }, value: this.#buckets[i]! })),
      { suffix: '_bucket', labels: { le: '+Inf' }, value: this.#count },
      { suffix: '_sum', labels: {}, value: this.#sum },
      { suffix: '_count', labels: {}, value: this.#count },
    ];
    return [
      {
        name: 'pgevents_events_appended_total',
        type: 'counter',
        help: 'Events appended through this store object (this process, since it opened), by type.',
        samples: byType,
      },
      {
        name: 'pgevents_append_duration_seconds',
        type: 'histogram',
        help: 'Duration of each append call through this store object (this process, since it opened), from the call to its answer.',
        samples: histogram,
      },
    ];
  }
}

/** What a store object's operations need of its telemetry settings. */
export interface StoreTelemetry {
  /** Store each append's W3C traceparent in its events' metadata. */
  traceContext: boolean;
  /** The store object's own counts of its appends (its Prometheus families). */
  appendStats?: AppendStats;
}
