/**
 * Replica lag (issue 16): the time from the `append` call on the primary to a live subscription's
 * handler when the subscription reads its pages from a hot standby (streaming replication), next to
 * the same subscription reading the primary, in one primary + standby pair of throwaway clusters
 * (initdb, pg_basebackup -R) started for the measurement and removed after it.
 */
import { v7 as timeOrderedUuid } from 'uuid';
import type { EventStore } from '../../src/index.js';
import {
  createClusterDatabase,
  startThrowawayCluster,
  startThrowawayStandby,
  type ThrowawayCluster,
  throwawayClusterUnavailable,
  waitForStandby,
} from '../../test/support/throwaway-cluster.js';
import { loadApi } from './pgevents-api.js';
import { quantile } from './stats.js';

export interface LagSample {
  events: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ReplicaMeasurement {
  /** PostgreSQL binaries' version of the two clusters, e.g. 'PostgreSQL 15.10'. */
  server: string;
  /** A subscription reading the primary (the baseline, same clusters). */
  primary: LagSample;
  /** The same subscription reading the standby, its checkpoint on the primary. */
  standby: LagSample;
}

/** Why the replica phase cannot run here, or null. */
export function replicaUnavailable(): string | null {
  const reason = throwawayClusterUnavailable();
  return reason === null ? null : `no primary + standby clusters can be started here: ${reason}`;
}

/** Appends one event at a time on `writer`; the time from each append call to `reader`'s subscription handler. */
async function liveLag(writer: EventStore, reader: EventStore, name: string, events: number): Promise<LagSample> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const live = await reader.subscribe({
    name,
    from: 'end',
    handler: (batch) => {
      const now = performance.now();
      for (const event of batch) {
        const sent = sentAt.get(event.eventId);
        if (sent !== undefined) latencies.push(now - sent);
      }
    },
  });
  try {
    await live.caughtUp();
    const stream = timeOrderedUuid();
    for (let i = 0; i < events; i++) {
      const id = timeOrderedUuid();
      sentAt.set(id, performance.now());
      await writer.append(stream, [{ type: 'user_update', body: { name: `user ${i}` }, id }]);
    }
    await live.caughtUp();
  } finally {
    await live.stop();
  }
  if (latencies.length !== events) throw new Error(`${name} got ${latencies.length} of ${events} events`);
  latencies.sort((a, b) => a - b);
  return { events, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), maxMs: latencies.at(-1)! };
}

export async function measureReplicaLag(events: number, log: (line: string) => void): Promise<ReplicaMeasurement> {
  const openEventStore = await loadApi();
  let primary: ThrowawayCluster | undefined;
  let standby: ThrowawayCluster | undefined;
  const stores: EventStore[] = [];
  try {
    // Server defaults (fsync, synchronous_commit on; asynchronous streaming replication).
    primary = await startThrowawayCluster();
    const primaryUrl = await createClusterDatabase(primary, 'pgevents_bench_replica');
    const writer = await openEventStore({ url: primaryUrl, migrate: true, poolSize: 2 });
    stores.push(writer);
    standby = await startThrowawayStandby(primary);
    await waitForStandby(primary, standby, 'pgevents_bench_replica');
    const onPrimary = await openEventStore({ url: primaryUrl, poolSize: 2 });
    stores.push(onPrimary);
    const onStandby = await openEventStore({ url: primaryUrl, replicaUrl: standby.url('pgevents_bench_replica'), poolSize: 2 });
    stores.push(onStandby);
    const [version] = await writer.query<{ version: string }>('select version() as version');
    const server = String(version?.version ?? '?').split(' on ')[0]!;

    const fromPrimary = await liveLag(writer, onPrimary, 'bench-primary', events);
    log(`  reading the primary   ${events} appends: p50 ${fromPrimary.p50Ms.toFixed(2)} ms, p99 ${fromPrimary.p99Ms.toFixed(2)} ms, max ${fromPrimary.maxMs.toFixed(1)} ms`);
    const fromStandby = await liveLag(writer, onStandby, 'bench-standby', events);
    log(`  reading the standby   ${events} appends: p50 ${fromStandby.p50Ms.toFixed(2)} ms, p99 ${fromStandby.p99Ms.toFixed(2)} ms, max ${fromStandby.maxMs.toFixed(1)} ms`);
    return { server, primary: fromPrimary, standby: fromStandby };
  } finally {
    for (const store of stores.reverse()) await store.close().catch(() => undefined);
    await standby?.destroy();
    await primary?.destroy();
  }
}

/** The lines of the console report and of bench/README.md. */
export function replicaSummary(r: ReplicaMeasurement): string[] {
  const row = (label: string, s: LagSample) => `| ${label} | ${s.p50Ms.toFixed(2)} ms | ${s.p99Ms.toFixed(2)} ms | ${s.maxMs.toFixed(1)} ms | ${s.events} |`;
  return [
    '| subscription reads | p50 | p99 | max | appends |',
    '| --- | ---: | ---: | ---: | ---: |',
    row('the primary', r.primary),
    row('the hot standby', r.standby),
  ];
}
