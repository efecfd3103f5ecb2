import { type Counter, type Histogram, type MeterProvider, metrics } from '@opentelemetry/api';
import type { AppendStats } from './append-stats.js';

// Instruments through the OpenTelemetry metrics API: without an SDK registered by the
// application, they are no-ops. (The Prometheus text of `pgevents metrics` and the console's
// /metrics reads the database, src/status/metrics.ts, plus the store object's AppendStats.)

let instruments: { provider: MeterProvider; appended: Counter; duration: Histogram } | undefined;

/** The instruments of the global meter provider (made again when the application registers another). */
function appendInstruments(): { appended: Counter; duration: Histogram } {
  const provider = metrics.getMeterProvider();
  if (instruments?.provider !== provider) {
    const meter = provider.getMeter('pgevents');
    instruments = {
      provider,
      appended: meter.createCounter('pgevents.events.appended', { description: 'Events appended through the TypeScript API, by type', unit: '{event}' }),
      duration: meter.createHistogram('pgevents.append.duration', { description: 'Duration of an append through the TypeScript API', unit: 's' }),
    };
  }
  return instruments;
}

/**
 * Counts an appended batch by type and records how long its append took: through the
 * OpenTelemetry API, and in the store object's own {@link AppendStats} (its Prometheus families).
 */
export function recordAppend(events: readonly { type?: unknown }[], milliseconds: number, stats?: AppendStats): void {
  const { appended, duration } = appendInstruments();
  const byType = new Map<string, number>();
  for (const event of events) byType.set(String(event.type), (byType.get(String(event.type)) ?? 0) + 1);
  for (const [type, count] of byType) appended.add(count, { 'pgevents.event.type': type });
  duration.record(milliseconds / 1000, { 'messaging.batch.message_count': events.length });
  stats?.record(byType, milliseconds / 1000);
}
