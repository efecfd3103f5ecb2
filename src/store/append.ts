import type { Queryable } from '../db/executor.js';
import { toInteger } from '../db/normalize.js';
import { DuplicateEventError, InvalidArgumentError } from '../errors.js';
import type { StoreTelemetry } from '../telemetry/append-stats.js';
import { recordAppend } from '../telemetry/metrics.js';
import { baseAttributes, destinationOf, inSpan, SpanKind, traceparentOf } from '../telemetry/tracing.js';
import { type AppendResult, type ExpectedVersion, isExpectedVersion, type JsonObject, type NewEvent } from '../types.js';
import { newEventId } from './event-id.js';
import { assertStream, type CheckedEvent, checkEvents } from './validate.js';

/**
 * The JSON array append_events takes, written from the events' JSON texts as they were checked
 * (nothing is written twice); an event without an id gets a fresh one ({@link newEventId}). Types
 * and ids hold no character JSON escapes (their formats are checked), so they go in as they are.
 */
export function appendRequest(events: readonly CheckedEvent[]): string {
  let request = '[';
  for (const [index, event] of events.entries()) {
    const metadata = event.metadata === undefined ? '' : `,"metadata":${event.metadata}`;
    const typeVersion = event.typeVersion === undefined ? '' : `,"type_version":${event.typeVersion}`;
    request += `${index === 0 ? '' : ','}{"type":"${event.type}","body":${event.body}${metadata},"id":"${event.id ?? newEventId()}"${typeVersion}}`;
  }
  return `${request}]`;
}

/**
 * Appends a batch to one stream in one round trip (one call of the SQL function append_events).
 * Events without an id get a fresh one here, so the batch can be retried as sent: a time-ordered
 * UUID (version 7), which lands next to the previous ones in the event_id index instead of on a
 * random page of it.
 *
 * @throws {InvalidEventError} for a malformed stream id or event; nothing is written.
 * @throws {InvalidArgumentError} for an expected version that is none; nothing is written.
 * @throws {ConcurrencyError} when the stream is not at the expected version (`expected` is the one given).
 * @throws {DuplicateEventError} when only some of the batch's ids are stored, or one in another stream.
 */
export async function appendEvents(
  db: Queryable,
  schema: string,
  stream: string,
  events: NewEvent[],
  expectedVersion: ExpectedVersion | undefined,
  telemetry: StoreTelemetry = { traceContext: true },
): Promise<AppendResult> {
  const batch = Array.isArray(events) ? events : [];
  const destination = destinationOf(batch);
  const started = performance.now();
  return inSpan(
    `send ${destination}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        ...baseAttributes(schema),
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'send',
        'messaging.destination.name': destination,
        'messaging.batch.message_count': batch.length,
        'db.operation.name': 'append_events',
        'pgevents.stream': String(stream),
      },
    },
    async (span) => {
      const traceparent = telemetry.traceContext ? traceparentOf(span) : undefined;
      const result = await appendChecked(db, schema, stream, traceparent ? withTraceparent(events, traceparent) : events, expectedVersion);
      if (result.events.length === 1) span.setAttribute('messaging.message.id', result.events[0]!.eventId);
      recordAppend(batch, performance.now() - started, telemetry.appendStats);
      return result;
    },
  );
}

/** Each event with the traceparent in its metadata, unless it carries one of its own (or is malformed: checked next). */
function withTraceparent(events: NewEvent[], traceparent: string): NewEvent[] {
  if (!Array.isArray(events)) return events;
  return events.map((event) => {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return event;
    const metadata: unknown = event.metadata;
    if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) return event;
    if (metadata !== undefined && Object.hasOwn(metadata, 'traceparent')) return event;
    return { ...event, metadata: { ...(metadata as JsonObject | undefined), traceparent } };
  });
}

async function appendChecked(
  db: Queryable,
  schema: string,
  stream: string,
  events: NewEvent[],
  expectedVersion: ExpectedVersion | undefined,
): Promise<AppendResult> {
  assertStream(stream);
  const checked = checkEvents(events);
  const expected: unknown = expectedVersion === undefined ? 'any' : expectedVersion;
  if (!isExpectedVersion(expected)) {
    throw new InvalidArgumentError('expectedVersion', `Invalid expected version: ${JSON.stringify(expected)}`, {
      hint: "Use 'any', 'no_stream', 'stream_exists' or a non-negative integer.",
    });
  }
  const rows = await db
    .query<{ event_id: string; version: unknown; position: unknown }>(
      `select event_id, version, "position" from ${schema}.append_events($1::uuid, $2::jsonb, $3)`,
      [stream, appendRequest(checked), String(expected)],
      { prepareAs: `pgevents_append_${schema}` },
    )
    .catch((error: unknown) => {
      // The unique constraint on event ids does not know the stream; this append does.
      if (error instanceof DuplicateEventError && error.stream === undefined) {
        throw new DuplicateEventError(error.message, { stream, ...(error.hint ? { hint: error.hint } : {}), cause: error.cause });
      }
      throw error;
    });
  const appended = rows.map((row) => ({
    eventId: String(row.event_id),
    version: toInteger(row.version),
    position: toInteger(row.position),
  }));
  return { nextVersion: appended.at(-1)?.version ?? 0, events: appended };
}
