import { InvalidArgumentError, InvalidEventError } from '../errors.js';
import type { NewEvent } from '../types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EVENT_TYPE = /^[A-Za-z_][A-Za-z0-9_.:/-]{0,199}$/;
export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_METADATA_BYTES = 64 * 1024;
export const MAX_BATCH_SIZE = 10_000;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** @throws {InvalidEventError} unless the stream id is a uuid. */
export function assertStream(stream: unknown): asserts stream is string {
  if (!isUuid(stream)) {
    throw new InvalidEventError(`Invalid stream id: ${JSON.stringify(String(stream)).slice(0, 80)} is not a uuid`, {
      field: 'stream',
      hint: 'A stream is the uuid of the entity its events belong to, e.g. 11111111-1111-1111-1111-111111111111.',
    });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

// PostgreSQL cannot store U+0000 in text or jsonb, and jsonb rejects lone surrogates: find them
// here so the error names the field instead of failing deep in the server.
export function findUnstorableText(value: unknown, depth = 0): string | undefined {
  if (depth > 1000) return 'nesting deeper than 1000 levels';
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return 'the character U+0000';
    if (!value.isWellFormed()) return 'a lone UTF-16 surrogate';
    return undefined;
  }
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `the number ${value}`;
  if (typeof value === 'bigint') return 'a BigInt';
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = findUnstorableText(item, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const found = findUnstorableText(key, depth + 1) ?? findUnstorableText(item, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

function assertJsonObject(value: unknown, field: 'body' | 'metadata', index: number, maxBytes: number): void {
  if (!isPlainObject(value)) {
    throw new InvalidEventError(`Invalid event at index ${index}: ${field} must be a JSON object`, {
      field,
      index,
      hint: `Wrap the value in an object, e.g. { "value": ... }.`,
    });
  }
  // Getters and toJSON methods run below: they may throw, or return what JSON cannot say (a BigInt).
  const notJson = (error: unknown) =>
    new InvalidEventError(`Invalid event at index ${index}: ${field} cannot be written as JSON`, { field, index, cause: error });
  let unstorable: string | undefined;
  try {
    unstorable = findUnstorableText(value);
  } catch (error) {
    throw notJson(error);
  }
  if (unstorable) {
    throw new InvalidEventError(`Invalid event at index ${index}: ${field} contains ${unstorable}, which PostgreSQL cannot store`, {
      field,
      index,
    });
  }
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw notJson(error);
  }
  if (!json.startsWith('{')) {
    throw new InvalidEventError(`Invalid event at index ${index}: ${field} must be a JSON object, but its toJSON returns something else`, {
      field,
      index,
    });
  }
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > maxBytes) {
    throw new InvalidEventError(`Invalid event at index ${index}: ${field} is ${bytes} bytes, more than the limit of ${maxBytes}`, {
      field,
      index,
      hint: 'Store large payloads elsewhere and put a reference in the event.',
    });
  }
}

/**
 * Checks a batch before it is sent, so that bad input gets a precise error and nothing is written.
 * @throws {InvalidEventError}
 */
export function assertEvents(events: unknown): asserts events is NewEvent[] {
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidEventError('Invalid events: expected a non-empty array of events', { field: 'events' });
  }
  if (events.length > MAX_BATCH_SIZE) {
    throw new InvalidEventError(`Invalid events: a batch holds at most ${MAX_BATCH_SIZE} events, not ${events.length}`, {
      field: 'events',
      hint: 'Split the batch, or use bulk import.',
    });
  }
  events.forEach((event: unknown, index) => {
    if (!isPlainObject(event)) {
      throw new InvalidEventError(`Invalid event at index ${index}: an event must be an object`, { index });
    }
    const { type, body, metadata, id } = event;
    if (typeof type !== 'string' || !EVENT_TYPE.test(type)) {
      throw new InvalidEventError(
        `Invalid event at index ${index}: type ${JSON.stringify(typeof type === 'string' ? type.slice(0, 60) : type) ?? 'undefined'} is not a valid event type`,
        {
          field: 'type',
          index,
          hint: 'Event types start with a letter or _, then letters, digits, or _ . : / -, at most 200 characters.',
        },
      );
    }
    assertJsonObject(body, 'body', index, MAX_BODY_BYTES);
    if (metadata !== undefined) assertJsonObject(metadata, 'metadata', index, MAX_METADATA_BYTES);
    if (id !== undefined && !isUuid(id)) {
      throw new InvalidEventError(`Invalid event at index ${index}: id must be a uuid`, { field: 'id', index });
    }
  });
}

/** @throws {InvalidArgumentError} unless value is an integer in [min, max]. */
export function assertInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(name, `Invalid ${name}: ${JSON.stringify(value)} is not an integer from ${min} to ${max}`);
  }
  return value;
}
