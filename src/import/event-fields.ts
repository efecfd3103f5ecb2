import { InvalidEventError } from '../errors.js';
import { checkJsonObject, isEventType, isUuid, MAX_BODY_BYTES, MAX_METADATA_BYTES } from '../store/validate.js';
import { DuplicateKeyError, parseJsonText } from './json-text.js';

/** A checked event of an import, with its JSON already written compactly. */
export interface ImportRow {
  /** Its line in the file: the order of the events, and what errors name. */
  line: number;
  stream: string;
  type: string;
  body: string;
  metadata: string | null;
  id: string | null;
  /** The version of the type's shape the body has (null: the type's current one). */
  typeVersion: number | null;
}


/** The fields an imported event may have (the names `pgevents read --json` and `tail --json` print, and their SQL names). */
const ALIASES: Record<string, keyof EventFields> = {
  stream: 'stream',
  uuid: 'stream',
  type: 'type',
  body: 'body',
  metadata: 'metadata',
  id: 'id',
  eventId: 'id',
  typeVersion: 'typeVersion',
  type_version: 'typeVersion',
};

/** Fields of exported events that an import ignores: the store gives the events new ones. */
const IGNORED = new Set(['position', 'version', 'insertedAt', 'transactionId', 'cursor']);

/** The field names an import accepts, for messages. */
export const ACCEPTED_FIELDS = 'stream (or uuid), type, body, metadata, id (or eventId), typeVersion (or type_version)';

/**
 * Checks a field name of an imported event; returns the field it names, or null for one to ignore.
 * @throws {InvalidEventError} for an unknown name.
 */
export function fieldOf(name: string, line: number): keyof EventFields | null {
  if (Object.hasOwn(ALIASES, name)) return ALIASES[name] ?? null;
  if (IGNORED.has(name)) return null;
  throw new InvalidEventError(`Invalid event on line ${line}: unknown field ${JSON.stringify(name.slice(0, 60))}`, {
    field: name,
    line,
    hint: `An imported event has the fields ${ACCEPTED_FIELDS}.`,
  });
}

function invalid(line: number, field: string, message: string, hint?: string): InvalidEventError {
  return new InvalidEventError(`Invalid event on line ${line}: ${message}`, { field, line, ...(hint ? { hint } : {}) });
}

/** A parsed JSON object checked (as the TS API checks a body or metadata) and written compactly. */
function jsonObject(value: unknown, field: 'body' | 'metadata', line: number, maxBytes: number): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const what = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw invalid(line, field, `${field} must be a JSON object, not ${what}`, 'Wrap the value in an object, e.g. { "value": ... }.');
  }
  const checked = checkJsonObject(value, field, maxBytes);
  if ('problem' in checked) throw invalid(line, field, checked.problem, checked.hint);
  return checked.json;
}

/**
 * The fields of one imported event, as read from a line: `body` and `metadata` parsed from JSON
 * already (NDJSON) or still JSON text (CSV, `json: 'text'`). Absent optional fields are undefined
 * (null and, in CSV, empty cells count as absent).
 */
export interface EventFields {
  stream?: unknown;
  type?: unknown;
  body?: unknown;
  metadata?: unknown;
  id?: unknown;
  typeVersion?: unknown;
}

function parseJsonCell(text: unknown, field: 'body' | 'metadata', line: number): unknown {
  if (typeof text !== 'string') return text;
  try {
    return parseJsonText(text, field);
  } catch (error) {
    if (error instanceof DuplicateKeyError) {
      throw invalid(line, field, error.message, 'Give each key once: JSON keeps only the last of them, so one value would be lost.');
    }
    throw invalid(line, field, `${field} is not valid JSON (${(error as Error).message})`);
  }
}

/**
 * Checks an imported event as PostgreSQL would, so that bad input gets an error naming its line
 * before anything is stored.
 * @throws {InvalidEventError}
 */
export function toImportRow(fields: EventFields, line: number, json: 'parsed' | 'text'): ImportRow {
  const { stream, type, id } = fields;
  if (stream === undefined) {
    throw invalid(line, 'stream', 'stream is missing', 'Give every event the uuid of its stream, as "stream" (or "uuid").');
  }
  if (!isUuid(stream)) {
    throw invalid(
      line,
      'stream',
      `stream ${JSON.stringify(String(stream).slice(0, 60))} is not a uuid`,
      'A stream is the uuid of the entity its events belong to, e.g. 11111111-1111-1111-1111-111111111111.',
    );
  }
  if (type === undefined) throw invalid(line, 'type', 'type is missing');
  if (!isEventType(type)) {
    throw invalid(
      line,
      'type',
      `type ${JSON.stringify(typeof type === 'string' ? type.slice(0, 60) : type)} is not a valid event type`,
      'Event types start with a letter or _, then letters, digits, or _ . : / -, at most 200 characters.',
    );
  }
  if (fields.body === undefined) throw invalid(line, 'body', 'body is missing', 'Every event has a body, a JSON object ({} for none).');
  const body = jsonObject(json === 'text' ? parseJsonCell(fields.body, 'body', line) : fields.body, 'body', line, MAX_BODY_BYTES);
  const metadata =
    fields.metadata === undefined
      ? null
      : jsonObject(json === 'text' ? parseJsonCell(fields.metadata, 'metadata', line) : fields.metadata, 'metadata', line, MAX_METADATA_BYTES);
  if (id !== undefined && !isUuid(id)) {
    throw invalid(line, 'id', `id ${JSON.stringify(String(id).slice(0, 60))} is not a uuid`, 'Leave id out to give the event a new one.');
  }
  const typeVersion = fields.typeVersion === undefined ? null : typeof fields.typeVersion === 'string' && /^\d+$/.test(fields.typeVersion) ? Number(fields.typeVersion) : fields.typeVersion;
  if (typeVersion !== null && (typeof typeVersion !== 'number' || !Number.isSafeInteger(typeVersion) || typeVersion < 1 || typeVersion > 999_999_999)) {
    throw invalid(line, 'typeVersion', `typeVersion ${JSON.stringify(String(fields.typeVersion).slice(0, 60))} is not a positive integer`, 'Leave typeVersion out to store the type\'s current version.');
  }
  return { line, stream, type, body, metadata, id: id === undefined ? null : id, typeVersion };
}
