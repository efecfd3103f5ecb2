import { InvalidArgumentError, InvalidEventError } from '../errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EVENT_TYPE = /^[A-Za-z_][A-Za-z0-9_.:/-]{0,199}$/;

/** Whether a value is a valid event type: a letter or _, then letters, digits, or `_ . : / -`; at most 200 characters. */
export function isEventType(value: unknown): value is string {
  return typeof value === 'string' && EVENT_TYPE.test(value);
}
/**
 * The limits of an event, the same on every way in (the TS API, the CLI, imports, and SQL: append_events,
 * import_events, the events table's check constraints). Sizes are in bytes as PostgreSQL stores the
 * value, jsonb uncompressed (`pg_column_size`; see {@link storedJsonSize}); depth counts levels of
 * nesting below the body or metadata object itself (`{"a": {"b": 1}}` is 2 levels deep).
 */
export const MAX_BODY_BYTES = 1024 * 1024;
export const MAX_METADATA_BYTES = 64 * 1024;
export const MAX_JSON_DEPTH = 1000;
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

/** What {@link findUnstorableText} says of a value nested deeper than {@link MAX_JSON_DEPTH} (or of a cycle). */
export const TOO_DEEP = `nesting deeper than ${MAX_JSON_DEPTH} levels`;

// PostgreSQL cannot store U+0000 in text or jsonb, and jsonb rejects lone surrogates: find them
// here so the error names the field instead of failing deep in the server.
export function findUnstorableText(value: unknown, depth = 0): string | undefined {
  if (depth > MAX_JSON_DEPTH) return TOO_DEEP;
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

/** The bytes of a string in UTF-8. */
function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function padToInt(offset: number): number {
  return (offset + 3) & ~3;
}

// A number as jsonb holds it: PostgreSQL's numeric, read from the number's JSON text (JavaScript's
// shortest form, e.g. 1.5e-7): a 4-byte length, a 2-byte header (4 bytes for a scale above 63 or a
// weight outside -64…63), and 2 bytes for each base-10000 digit from the first to the last that is
// not zero.
function numericBytes(value: number): number {
  const [, whole = '', fraction = '', exponentText] = /^-?(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(value)) ?? [];
  const exponent = Number(exponentText ?? 0);
  const digits = whole + fraction;
  const scale = Math.max(0, fraction.length - exponent);
  const first = digits.search(/[1-9]/);
  if (first === -1) return scale <= 63 ? 6 : 8;
  const last = digits.search(/0*$/) - 1;
  // The power of ten of a digit's place, then of 10,000 (the digit's weight).
  const place = (index: number) => whole.length - 1 - index + exponent;
  const weight = Math.floor(place(first) / 4);
  const count = weight - Math.floor(place(last) / 4) + 1;
  return (scale <= 63 && weight >= -64 && weight <= 63 ? 6 : 8) + 2 * count;
}

/**
 * The size PostgreSQL stores a JSON value in, in bytes: its jsonb form, uncompressed, which is what
 * `pg_column_size` says of a value as it is built, and what the events table's checks measure.
 * jsonb is PostgreSQL's on-disk format (unchanged since 9.4), laid out here as PostgreSQL lays it:
 * a 4-byte length; each object or array aligned to 4 bytes, a 4-byte header and a 4-byte entry per
 * element (two per member: key and value), the keys (sorted by length, then bytes) and then the
 * values; strings as their UTF-8 bytes; numbers as numerics aligned to 4 bytes; true, false and
 * null in their entry alone.
 * @param value a value as `JSON.parse` returns it
 */
export function storedJsonSize(value: unknown): number {
  let offset = 4;
  const add = (item: unknown): void => {
    if (typeof item === 'string') {
      offset += utf8Bytes(item);
    } else if (typeof item === 'number') {
      offset = padToInt(offset) + numericBytes(item);
    } else if (Array.isArray(item)) {
      offset = padToInt(offset) + 4 + 4 * item.length;
      for (const element of item) add(element);
    } else if (typeof item === 'object' && item !== null) {
      const keys = Object.keys(item)
        .map((key) => ({ key, bytes: Buffer.from(key, 'utf8') }))
        .sort((a, b) => a.bytes.length - b.bytes.length || Buffer.compare(a.bytes, b.bytes));
      offset = padToInt(offset) + 4 + 8 * keys.length;
      for (const { bytes } of keys) offset += bytes.length;
      for (const { key } of keys) add((item as Record<string, unknown>)[key]);
    }
  };
  add(value);
  return offset;
}

/**
 * The size of a body or metadata as stored ({@link storedJsonSize}), from its compact JSON text, but
 * only when it may be over `maxBytes`; null when it cannot be. jsonb takes less than 8 bytes per byte
 * of JSON text (the most is a 0 in an array: 2 bytes of text, at most 13 of jsonb), and a UTF-16 unit
 * is at most 3 bytes of UTF-8, so the texts of ordinary events are neither parsed nor walked.
 */
export function storedSizeIfLarge(json: string, maxBytes: number): number | null {
  if (json.length * 3 * 8 + 64 <= maxBytes || utf8Bytes(json) * 8 + 64 <= maxBytes) return null;
  return storedJsonSize(JSON.parse(json));
}

/** How deep a JSON value is nested: 0 for a scalar or an empty object or array, 1 for `{"a": 1}`. */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, level] = next;
    deepest = Math.max(deepest, level);
    if (typeof item === 'object' && item !== null) {
      for (const child of Object.values(item)) pending.push([child, level + 1]);
    }
  }
  return deepest;
}

/** Why a body or metadata cannot be stored as it is, and what to do. */
export interface JsonProblem {
  problem: string;
  hint?: string;
  cause?: unknown;
}

// Whether JSON.stringify writes a value exactly as the walk above sees it, and the walk finds nothing
// in it: plain objects and arrays (no holes) of strings, finite numbers, booleans and null, nested at
// most MAX_JSON_DEPTH levels. Anything else (undefined, a function such as a toJSON, a symbol, a
// BigInt, NaN, a Date, a class instance, a cycle, a getter that throws) answers false, and the value
// is then checked by the walk, as before. The strings are checked in the JSON text.
function isPlainData(container: object, level: number): boolean {
  if (level >= MAX_JSON_DEPTH) return false;
  if (Array.isArray(container)) {
    if (Object.getPrototypeOf(container) !== Array.prototype) return false;
    for (let index = 0; index < container.length; index++) {
      if (!isPlainItem(container[index], level)) return false;
    }
    return true;
  }
  const prototype = Object.getPrototypeOf(container);
  if (prototype !== Object.prototype && prototype !== null) return false;
  for (const key of Object.keys(container)) {
    if (!isPlainItem((container as Record<string, unknown>)[key], level)) return false;
  }
  return true;
}

function isPlainItem(item: unknown, level: number): boolean {
  switch (typeof item) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(item);
    case 'object':
      return item === null || isPlainData(item, level + 1);
    default:
      return false;
  }
}

/**
 * The compact JSON text of a value that is plain JSON data whose strings PostgreSQL can store, or
 * undefined when that takes the walk to tell. JSON.stringify writes U+0000, a lone surrogate (and
 * other control characters) as a `\u` escape, so a text without one has neither, in no key or value.
 */
function plainJson(value: object): string | undefined {
  if ('toJSON' in Object.prototype || 'toJSON' in Array.prototype) return undefined;
  try {
    if (!isPlainData(value, 0)) return undefined;
    const json = JSON.stringify(value);
    return json.includes('\\u') ? undefined : json;
  } catch {
    return undefined;
  }
}

function checkStoredSize(json: string, field: 'body' | 'metadata', maxBytes: number): { json: string } | JsonProblem {
  const bytes = storedSizeIfLarge(json, maxBytes);
  if (bytes !== null && bytes > maxBytes) {
    return {
      problem: `${field} is ${bytes} bytes, more than the limit of ${maxBytes}`,
      hint: 'Store large payloads elsewhere and put a reference in the event.',
    };
  }
  return { json };
}

/**
 * Checks a body or metadata that is an object against what PostgreSQL can store and the limits
 * (nesting depth, size as stored); returns its compact JSON text, or what is wrong with it, worded
 * as SQL words it (`body is 1048577 bytes, more than the limit of 1048576`). Plain JSON data is
 * written once and its text checked; anything else is walked first ({@link findUnstorableText}).
 */
export function checkJsonObject(value: object, field: 'body' | 'metadata', maxBytes: number): { json: string } | JsonProblem {
  const json = plainJson(value);
  if (json !== undefined) return checkStoredSize(json, field, maxBytes);
  // Getters and toJSON methods run below: they may throw, or return what JSON cannot say (a BigInt).
  let unstorable: string | undefined;
  let written: string;
  try {
    unstorable = findUnstorableText(value);
    if (unstorable !== undefined && unstorable !== TOO_DEEP) {
      return { problem: `${field} contains ${unstorable}, which PostgreSQL cannot store` };
    }
    written = JSON.stringify(value);
  } catch (error) {
    return { problem: `${field} cannot be written as JSON`, cause: error };
  }
  if (!written.startsWith('{')) return { problem: `${field} must be a JSON object, but its toJSON returns something else` };
  if (unstorable === TOO_DEEP) {
    return {
      problem: `${field} is nested ${jsonDepth(JSON.parse(written))} levels deep, more than the limit of ${MAX_JSON_DEPTH}`,
      hint: `Flatten the JSON: at most ${MAX_JSON_DEPTH} levels of objects and arrays.`,
    };
  }
  return checkStoredSize(written, field, maxBytes);
}

function assertJsonObject(value: unknown, field: 'body' | 'metadata', index: number, maxBytes: number): string {
  if (!isPlainObject(value)) {
    throw new InvalidEventError(`Invalid event at index ${index}: ${field} must be a JSON object`, {
      field,
      index,
      hint: `Wrap the value in an object, e.g. { "value": ... }.`,
    });
  }
  const checked = checkJsonObject(value, field, maxBytes);
  if ('problem' in checked) {
    throw new InvalidEventError(`Invalid event at index ${index}: ${checked.problem}`, {
      field,
      index,
      ...(checked.hint ? { hint: checked.hint } : {}),
      ...(checked.cause === undefined ? {} : { cause: checked.cause }),
    });
  }
  return checked.json;
}

/** An event as {@link checkEvents} passes it: its type and id as given, its body and metadata as compact JSON text. */
export interface CheckedEvent {
  type: string;
  body: string;
  metadata: string | undefined;
  id: string | undefined;
  typeVersion: number | undefined;
}

/**
 * Checks a batch before it is sent, so that bad input gets a precise error and nothing is written;
 * returns its events with each body and metadata written as JSON, once, to be sent as they are.
 * @throws {InvalidEventError}
 */
export function checkEvents(events: unknown): CheckedEvent[] {
  if (!Array.isArray(events) || events.length === 0) {
    throw new InvalidEventError('Invalid events: expected a non-empty array of events', { field: 'events' });
  }
  if (events.length > MAX_BATCH_SIZE) {
    throw new InvalidEventError(`Invalid events: a batch holds at most ${MAX_BATCH_SIZE} events, not ${events.length}`, {
      field: 'events',
      hint: 'Split the batch, or use bulk import.',
    });
  }
  return events.map((event: unknown, index): CheckedEvent => {
    if (!isPlainObject(event)) {
      throw new InvalidEventError(`Invalid event at index ${index}: an event must be an object`, { index });
    }
    const { type, body, metadata, id, typeVersion } = event;
    if (!isEventType(type)) {
      throw new InvalidEventError(
        `Invalid event at index ${index}: type ${JSON.stringify(typeof type === 'string' ? type.slice(0, 60) : type) ?? 'undefined'} is not a valid event type`,
        {
          field: 'type',
          index,
          hint: 'Event types start with a letter or _, then letters, digits, or _ . : / -, at most 200 characters.',
        },
      );
    }
    const bodyJson = assertJsonObject(body, 'body', index, MAX_BODY_BYTES);
    const metadataJson = metadata === undefined ? undefined : assertJsonObject(metadata, 'metadata', index, MAX_METADATA_BYTES);
    if (id !== undefined && !isUuid(id)) {
      throw new InvalidEventError(`Invalid event at index ${index}: id must be a uuid`, { field: 'id', index });
    }
    if (typeVersion !== undefined && (typeof typeVersion !== 'number' || !Number.isSafeInteger(typeVersion) || typeVersion < 1 || typeVersion > 999_999_999)) {
      throw new InvalidEventError(`Invalid event at index ${index}: typeVersion must be a positive integer`, {
        field: 'typeVersion',
        index,
        hint: 'Leave typeVersion out to append the type\'s current version.',
      });
    }
    return { type, body: bodyJson, metadata: metadataJson, id, typeVersion };
  });
}

/** @throws {InvalidArgumentError} unless value is an integer in [min, max]. */
export function assertInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(name, `Invalid ${name}: ${JSON.stringify(value)} is not an integer from ${min} to ${max}`);
  }
  return value;
}
