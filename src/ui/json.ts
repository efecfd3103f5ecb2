import { formatCursor, type StoredEvent } from '../index.js';

// The page gets plain JSON: the store's own objects, with times in ISO 8601 and each event's cursor.

/** An event as the page gets it: the documented fields, a time in ISO 8601, and its cursor. */
export interface EventJson {
  position: number;
  stream: string;
  version: number;
  type: string;
  body: unknown;
  metadata: unknown;
  eventId: string;
  insertedAt: string;
  transactionId: string;
  typeVersion: number;
  /** The gap-safe cursor just after this event. */
  cursor: string;
}

/** A stored event (from the store's API) as the page gets it. */
export function eventJson(event: StoredEvent): EventJson {
  return {
    position: event.position,
    stream: event.stream,
    version: event.version,
    type: event.type,
    body: event.body,
    metadata: event.metadata,
    eventId: event.eventId,
    insertedAt: event.insertedAt.toISOString(),
    transactionId: event.transactionId,
    typeVersion: event.typeVersion,
    cursor: formatCursor({ transactionId: event.transactionId, position: event.position }),
  };
}

/**
 * A read-model cell as JSON: numbers beyond 2^53 and numerics stay exact as text, times become
 * ISO 8601, bytes become `\x…` hex; JSON values stay structured.
 */
export function cellJson(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`;
  if (Array.isArray(value)) return value.map(cellJson);
  if (typeof value === 'object') return value;
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}
