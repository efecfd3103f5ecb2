import {
  type Attributes,
  type Link,
  type Span,
  SpanKind,
  type SpanContext,
  SpanStatusCode,
  TraceFlags,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';
import { isEventType } from '../store/validate.js';
import type { JsonObject } from '../types.js';

// Spans through the OpenTelemetry API only: without an SDK registered by the application, the
// tracer is a no-op and every span below costs an object allocation.

const TRACER_NAME = 'pgevents';

/** The messaging and database attributes every pgevents span carries. */
export function baseAttributes(schema: string): Attributes {
  return { 'messaging.system': 'pgevents', 'db.system.name': 'postgresql', 'db.namespace': schema };
}

/**
 * Runs `fn` in a span of its own (active for what `fn` starts), ends it, and records a thrown
 * error on it. The span is handed to `fn` for attributes it learns on the way.
 */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; links?: Link[] },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return trace.getTracer(TRACER_NAME).startActiveSpan(name, options, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The W3C traceparent of a span; undefined when it is not recorded (no SDK, or not sampled). */
export function traceparentOf(span: Span): string | undefined {
  if (!span.isRecording()) return undefined;
  const context = span.spanContext();
  if (!isSpanContextValid(context)) return undefined;
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span context a stored traceparent names, or undefined for none or a malformed one. */
export function spanContextOf(traceparent: unknown): SpanContext | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const match = TRACEPARENT.exec(traceparent);
  if (!match) return undefined;
  const context = { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(context) ? context : undefined;
}

/** Links to the spans that appended these events (their metadata's traceparent), one per producer span. */
export function producerLinks(events: readonly { metadata: JsonObject }[]): Link[] {
  const seen = new Set<string>();
  const links: Link[] = [];
  for (const event of events) {
    const context = spanContextOf(event.metadata.traceparent);
    if (!context || seen.has(context.spanId)) continue;
    seen.add(context.spanId);
    links.push({ context });
  }
  return links;
}

/**
 * The destination of an append's span: the batch's event type, or the number of its types (input
 * not checked yet: anything that is not an event type counts as one `invalid` type).
 */
export function destinationOf(events: readonly unknown[]): string {
  const types = new Set(
    events.map((event) => {
      const type: unknown = typeof event === 'object' && event !== null ? (event as { type?: unknown }).type : undefined;
      return isEventType(type) ? type : 'invalid';
    }),
  );
  return types.size === 1 ? [...types][0]! : `${types.size} event types`;
}

export { SpanKind };
