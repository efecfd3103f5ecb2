import { formatCursor, type StoredEvent } from '../index.js';

// pg returns int8 as a string, PGlite as a number or BigInt: the console's own queries map
// integers through here, and send the page plain JSON.

/** An integer or numeric column from either driver as a number. */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value !== '') return Number(value);
  throw new TypeError(`Expected a number from the database, got ${typeof value}`);
}

/** {@link toNumber}, keeping SQL null. */
export function toNumberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toNumber(value);
}

/** A timestamp from either driver in ISO 8601. */
export function toIso(value: unknown): string {
  return (value instanceof Date ? value : new Date(String(value))).toISOString();
}

/** {@link toIso}, keeping SQL null. */
export function toIsoOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : toIso(value);
}

function toJsonValue(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

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
    cursor: formatCursor({ transactionId: event.transactionId, position: event.position }),
  };
}

/** The columns {@link eventFromRow} expects, selected from the events table. */
export const EVENT_SELECT = 'id, uuid, version, type, body, metadata, event_id, inserted_at, transaction_id::text as transaction_id';

/** A row of the events table, selected with {@link EVENT_SELECT}, as the page gets it. */
export function eventFromRow(row: Record<string, unknown>): EventJson {
  const transactionId = String(row.transaction_id);
  const position = toNumber(row.id);
  return {
    position,
    stream: String(row.uuid),
    version: toNumber(row.version),
    type: String(row.type),
    body: toJsonValue(row.body),
    metadata: toJsonValue(row.metadata),
    eventId: String(row.event_id),
    insertedAt: toIso(row.inserted_at),
    transactionId,
    cursor: formatCursor({ transactionId, position }),
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
