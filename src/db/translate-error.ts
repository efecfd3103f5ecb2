import { catalogueEntryForSqlState, type RaisedEntry } from '../error-catalogue.js';
import {
  ConcurrencyError,
  DuplicateEventError,
  ImmutableEventsError,
  InvalidArgumentError,
  InvalidCursorError,
  InvalidEventError,
  LiveTableTouchedError,
  PgEventsError,
  ProjectionDefinitionError,
  ProjectionHandlerError,
  RebuildConflictError,
  RebuildFailedError,
  RebuildRefusedError,
  ReplayRefusedError,
  SchemaNotInstalledError,
  StreamArchivedError,
  DirectPartitionWriteError,
  ForeignStreamError,
  TenantModeError,
  StreamTombstonedError,
  SubscriptionDefinitionError,
  SubscriptionStateError,
  SwapTimeoutError,
  UnknownProjectionError,
  UnknownSubscriptionError,
} from '../errors.js';
import type { ExpectedVersion } from '../types.js';

interface DatabaseErrorLike {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  constraint?: string;
}

function isDatabaseError(error: unknown): error is DatabaseErrorLike {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

function detailOf(error: DatabaseErrorLike): Record<string, unknown> {
  if (!error.detail) return {};
  try {
    const parsed: unknown = JSON.parse(error.detail);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const constraintMessages: Record<string, { field: string; message: string }> = {
  events_type_valid: {
    field: 'type',
    message: 'Invalid event type: use a letter or _, then letters, digits, or _ . : / -, at most 200 characters',
  },
  events_body_is_object: { field: 'body', message: 'Invalid event body: it must be a JSON object' },
  events_body_size: { field: 'body', message: 'Invalid event body: it is more than the limit of 1048576 bytes (1 MiB as stored)' },
  events_metadata_is_object: { field: 'metadata', message: 'Invalid event metadata: it must be a JSON object' },
  events_metadata_size: { field: 'metadata', message: 'Invalid event metadata: it is more than the limit of 65536 bytes (64 KiB as stored)' },
  events_version_positive: { field: 'version', message: 'Invalid event version: versions start at 1' },
};

/** What a `PE…` error from SQL carries, for building its pgevents error. */
interface Raised {
  message: string;
  /** The error's JSON detail, parsed (empty when there is none). */
  detail: Record<string, unknown>;
  hint: string | undefined;
  cause: DatabaseErrorLike;
}

// SQL reports the expected version as the caller gave it to append_events ('no_stream', '3'), or as a
// number (a plain INSERT's explicit version minus one). It raises PE001 only for a valid one.
function expectedVersionOf(value: unknown): ExpectedVersion {
  if (typeof value === 'number') return value;
  const text = String(value ?? '');
  return /^[0-9]+$/.test(text) ? Number(text) : (text as ExpectedVersion);
}

/**
 * How to build each error SQL raises from what it carries. Which SQLSTATE raises which error is the
 * catalogue's (src/error-catalogue.ts); an entry with a SQLSTATE but no builder here does not compile.
 */
const fromSql: { [Entry in RaisedEntry as Entry['code']]: (raised: Raised) => InstanceType<Entry['errorClass']> } = {
  CONCURRENCY: ({ detail, cause }) =>
    new ConcurrencyError(String(detail.stream ?? ''), expectedVersionOf(detail.expected), Number(detail.actual ?? 0), { cause }),
  IMMUTABLE_EVENTS: ({ message, hint, cause }) => new ImmutableEventsError(message, { hint, cause }),
  INVALID_EVENT: ({ message, detail, hint, cause }) =>
    new InvalidEventError(message, {
      ...(typeof detail.field === 'string' ? { field: detail.field } : {}),
      ...(typeof detail.index === 'number' ? { index: detail.index } : {}),
      hint,
      cause,
    }),
  DUPLICATE_EVENT: ({ message, detail, hint, cause }) =>
    new DuplicateEventError(message, {
      ...(typeof detail.stream === 'string' ? { stream: detail.stream } : {}),
      hint,
      cause,
    }),
  UNKNOWN_PROJECTION: ({ detail, cause }) => new UnknownProjectionError(String(detail.projection ?? ''), { cause }),
  INVALID_PROJECTION: ({ message, hint, cause }) => new ProjectionDefinitionError(message, { hint, cause }),
  PROJECTION_FAILED: ({ message, detail, hint, cause }) =>
    new ProjectionHandlerError(
      {
        projection: String(detail.projection ?? ''),
        eventType: String(detail.type ?? ''),
        stream: String(detail.stream ?? ''),
        version: Number(detail.version ?? 0),
        position: Number(detail.position ?? 0),
        batch:
          detail.last_position === undefined
            ? null
            : { lastPosition: Number(detail.last_position), events: Number(detail.events ?? 0) },
        sqlState: String(detail.sqlstate ?? ''),
        message: String(detail.message ?? message),
      },
      { hint, cause },
    ),
  REPLAY_REFUSED: ({ message, hint, cause }) => new ReplayRefusedError(message, { hint, cause }),
  INVALID_CURSOR: ({ message, detail, hint, cause }) =>
    new InvalidCursorError('cursor', String(detail.cursor ?? ''), detail.reason === 'unknown' ? 'unknown' : 'malformed', {
      message,
      hint,
      cause,
    }),
  UNKNOWN_SUBSCRIPTION: ({ detail, cause }) => new UnknownSubscriptionError(String(detail.subscription ?? ''), { cause }),
  INVALID_SUBSCRIPTION: ({ message, hint, cause }) => new SubscriptionDefinitionError(message, { hint, cause }),
  SUBSCRIPTION_STATE: ({ message, detail, hint, cause }) =>
    new SubscriptionStateError(String(detail.subscription ?? ''), message, { hint, cause }),
  REBUILD_REFUSED: ({ message, detail, hint, cause }) =>
    new RebuildRefusedError(String(detail.projection ?? ''), message, {
      table: typeof detail.table === 'string' ? detail.table : null,
      hint,
      cause,
    }),
  REBUILD_CONFLICT: ({ message, detail, hint, cause }) =>
    new RebuildConflictError(String(detail.projection ?? ''), message, { hint, cause }),
  LIVE_TABLE_TOUCHED: ({ message, detail, hint, cause }) =>
    new LiveTableTouchedError(String(detail.projection ?? ''), String(detail.table ?? ''), detail.live === true, message, {
      hint,
      cause,
    }),
  SWAP_TIMEOUT: ({ message, detail, hint, cause }) => new SwapTimeoutError(String(detail.projection ?? ''), message, { hint, cause }),
  REBUILD_FAILED: ({ message, detail, hint, cause }) =>
    new RebuildFailedError(String(detail.projection ?? ''), String(detail.sqlstate ?? ''), message, { hint, cause }),
  INVALID_ARGUMENT: ({ message, detail, hint, cause }) =>
    new InvalidArgumentError(String(detail.field ?? ''), message, { hint, cause }),
  STREAM_TOMBSTONED: ({ message, detail, hint, cause }) =>
    new StreamTombstonedError(String(detail.stream ?? ''), message, { hint, cause }),
  STREAM_ARCHIVED: ({ message, detail, hint, cause }) => new StreamArchivedError(String(detail.stream ?? ''), message, { hint, cause }),
  DIRECT_PARTITION_WRITE: ({ message, detail, hint, cause }) => new DirectPartitionWriteError(String(detail.partition ?? ''), message, { hint, cause }),
  FOREIGN_STREAM: ({ message, detail, hint, cause }) => new ForeignStreamError(String(detail.stream ?? ''), message, { hint, cause }),
  TENANT_MODE: ({ message, detail, hint, cause }) =>
    new TenantModeError(detail.role === undefined ? undefined : String(detail.role), message, { hint, cause }),
};

/**
 * Translates a database error into a pgevents error, keeping the original as `cause`: a `PE…`
 * SQLSTATE into the catalogue's error for it, and some of PostgreSQL's own (a check constraint of
 * events, text PostgreSQL cannot store, a missing schema) into the error they mean.
 * Errors it does not recognise are returned unchanged.
 */
export function translateError(error: unknown, schema: string): unknown {
  if (error instanceof PgEventsError || !isDatabaseError(error)) return error;
  const cause = error;
  const raised = catalogueEntryForSqlState(error.code);
  if (raised) {
    return fromSql[raised.code]({ message: error.message, detail: detailOf(error), hint: error.hint || undefined, cause });
  }
  switch (error.code) {
    case '23514': {
      const known = error.constraint ? constraintMessages[error.constraint] : undefined;
      return known ? new InvalidEventError(known.message, { field: known.field, cause }) : error;
    }
    case '23505':
      if (error.constraint === 'events_event_id_unique') {
        return new DuplicateEventError('An event with this id is already stored', {
          hint: 'Give new events new ids; retry a batch only exactly as it was first sent.',
          cause,
        });
      }
      // In a partitioned log (partition_events) the partition's index reports the violation.
      if (error.constraint === 'events_stream_version_unique' || /^events_(p\d+_of_\d+|live|archived)_uuid_version(_archived)?_key$/.test(error.constraint ?? '')) {
        // A plain insert with an explicit version the stream already holds. The key in the detail
        // names the stream and that version; the stream is at least at it. (PostgreSQL leaves the
        // key out for a role that may not read it: then there is nothing to say which stream.)
        const key = /\(([0-9a-f-]{36}), (\d+)\)/i.exec(error.detail ?? '');
        if (!key) return error;
        const version = Number(key[2]);
        return new ConcurrencyError(key[1] ?? '', version - 1, version, { cause });
      }
      return error;
    case '22P05':
      return new InvalidEventError('Invalid text: PostgreSQL cannot store the character U+0000 in text or JSON', {
        hint: 'Remove NUL characters from the event.',
        cause,
      });
    case '22021':
      // A text parameter that is not valid UTF-8 once sent: a NUL character (both engines), or a lone
      // UTF-16 surrogate (the embedded engine; node-postgres sends U+FFFD instead). PostgreSQL
      // refuses it before any pgevents code runs.
      return error.message.startsWith('invalid byte sequence for encoding')
        ? new InvalidEventError('Invalid text: a value holds U+0000 or a lone UTF-16 surrogate, which PostgreSQL cannot store', {
            hint: 'Remove NUL characters and unpaired surrogates from the value.',
            cause,
          })
        : error;
    case '22P02':
      // A parameter that is not JSON text, or not a uuid, where the SQL API takes one. PostgreSQL's
      // message quotes the value, so it is not repeated here (it stays in `cause`).
      if (/^invalid input syntax for type jsonb?$/.test(error.message)) {
        return new InvalidEventError('Invalid JSON: a value passed as JSON (a batch of events, a body or metadata) is not valid JSON text', {
          hint: 'Check the JSON text; a lone UTF-16 surrogate escape such as \\ud800 is not valid in PostgreSQL either.',
          cause,
        });
      }
      if (error.message.startsWith('invalid input syntax for type uuid:')) {
        return new InvalidEventError('Invalid uuid: a value passed as a uuid (a stream or event id) is not one', {
          hint: 'A stream is the uuid of the entity its events belong to, e.g. 11111111-1111-1111-1111-111111111111.',
          cause,
        });
      }
      // The embedded engine writes an array parameter as an array literal; a lone UTF-16 surrogate
      // in one of its strings breaks that literal (the server engine sends U+FFFD instead).
      if (error.message.startsWith('malformed array literal')) {
        return new InvalidEventError('Invalid text: a value passed as a list (e.g. table names) holds U+0000 or a lone UTF-16 surrogate, which PostgreSQL cannot store', {
          hint: 'Remove NUL characters and unpaired surrogates from the values.',
          cause,
        });
      }
      return error;
    case '3F000':
    case '42P01':
    case '42883':
      return error.message.includes(`"${schema}"`) || error.message.includes(`${schema}.`)
        ? new SchemaNotInstalledError(schema, { cause })
        : error;
    default:
      return error;
  }
}
