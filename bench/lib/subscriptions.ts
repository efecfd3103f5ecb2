/**
 * pgevents subscriptions, measured through the TypeScript API on both engines: how fast a new
 * subscription catches up with stored events, and how long an append takes to reach a live
 * subscription's handler (append call started → handler called), at p50 and p99.
 */
import { v7 as timeOrderedUuid } from 'uuid';
import type { EventStore } from '../../src/index.js';
import { quantile } from './stats.js';
import { bulkSource, ndjsonOf } from './workload.js';

export interface SubscriptionMeasurement {
  engine: 'server' | 'embedded';
  /** A new subscription from the start, over `events` stored events. */
  catchUp: { events: number; seconds: number; rate: number };
  /** Appends of one event each, one after the other, delivered to a live subscription. */
  live: { events: number; p50Ms: number; p99Ms: number; maxMs: number };
}

export async function measureSubscriptions(
  store: EventStore,
  engine: SubscriptionMeasurement['engine'],
  sizes: { catchUpEvents: number; liveEvents: number },
  log: (line: string) => void,
): Promise<SubscriptionMeasurement> {
  await store.importEvents(ndjsonOf(bulkSource(sizes.catchUpEvents, 10)), { format: 'ndjson' });

  let delivered = 0;
  const started = performance.now();
  const reader = await store.subscribe({
    name: 'bench-catch-up',
    from: 'start',
    batchSize: 1000,
    handler: (events) => {
      delivered += events.length;
    },
  });
  await reader.caughtUp();
  const seconds = (performance.now() - started) / 1000;
  await reader.stop();
  if (delivered !== sizes.catchUpEvents) throw new Error(`catch-up delivered ${delivered} events, ${sizes.catchUpEvents} stored`);
  log(`  subscription catch-up (${engine})   ${delivered.toLocaleString('en-US')} events in ${seconds.toFixed(1)} s: ${Math.round(delivered / seconds).toLocaleString('en-US')} events/s`);

  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const live = await store.subscribe({
    name: 'bench-live',
    from: 'end',
    handler: (events) => {
      const now = performance.now();
      for (const event of events) {
        const sent = sentAt.get(event.eventId);
        if (sent !== undefined) latencies.push(now - sent);
      }
    },
  });
  await live.caughtUp();
  const stream = timeOrderedUuid();
  for (let i = 0; i < sizes.liveEvents; i++) {
    const id = timeOrderedUuid();
    sentAt.set(id, performance.now());
    await store.append(stream, [{ type: 'user_update', body: { name: `user ${i}` }, id }]);
  }
  await live.caughtUp();
  await live.stop();
  if (latencies.length !== sizes.liveEvents) throw new Error(`live subscription got ${latencies.length} of ${sizes.liveEvents} events`);
  latencies.sort((a, b) => a - b);
  const result = {
    engine,
    catchUp: { events: delivered, seconds, rate: delivered / seconds },
    live: { events: latencies.length, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), maxMs: latencies.at(-1)! },
  };
  log(`  live delivery (${engine})   ${latencies.length} appends: p50 ${result.live.p50Ms.toFixed(2)} ms, p99 ${result.live.p99Ms.toFixed(2)} ms, max ${result.live.maxMs.toFixed(1)} ms`);
  return result;
}

