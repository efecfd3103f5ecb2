import {
  ConcurrencyError,
  DuplicateEventError,
  ImmutableEventsError,
  InvalidCursorError,
  InvalidArgumentError,
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
  SwapTimeoutError,
  SubscriptionDefinitionError,
  SubscriptionStateError,
  UnknownProjectionError,
  UnknownSubscriptionError,
} from '../errors.js';

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
  events_body_size: { field: 'body', message: 'Invalid event body: it is larger than 1 MiB' },
  events_metadata_is_object: { field: 'metadata', message: 'Invalid event metadata: it must be a JSON object' },
  events_metadata_size: { field: 'metadata', message: 'Invalid event metadata: it is larger than 64 KiB' },
  events_version_positive: { field: 'version', message: 'Invalid event version: versions start at 1' },
};

/**
 * Translates a database error into a pgevents error, keeping the original as `cause`.
 * Errors it does not recognise are returned unchanged.
 */
export function translateError(error: unknown, schema: string): unknown {
  if (error instanceof PgEventsError || !isDatabaseError(error)) return error;
  const detail = detailOf(error);
  const hint = error.hint || undefined;
  const cause = error;
  switch (error.code) {
    case 'PE001':
      return new ConcurrencyError(String(detail.stream ?? ''), String(detail.expected ?? ''), Number(detail.actual ?? 0), {
        cause,
      });
    case 'PE002':
      return new ImmutableEventsError(error.message, { hint, cause });
    case 'PE003':
      return new InvalidEventError(error.message, {
        ...(typeof detail.field === 'string' ? { field: detail.field } : {}),
        ...(typeof detail.index === 'number' ? { index: detail.index } : {}),
        hint,
        cause,
      });
    case 'PE004':
      return new DuplicateEventError(error.message, {
        ...(typeof detail.stream === 'string' ? { stream: detail.stream } : {}),
        hint,
        cause,
      });
    case 'PE005':
      return new UnknownProjectionError(String(detail.projection ?? ''), { cause });
    case 'PE006':
      return new ProjectionDefinitionError(error.message, { hint, cause });
    case 'PE007':
      return new ProjectionHandlerError(
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
          message: String(detail.message ?? error.message),
        },
        { hint, cause },
      );
    case 'PE008':
      return new ReplayRefusedError(error.message, { hint, cause });
    case 'PE009':
      return new InvalidCursorError('cursor', String(detail.cursor ?? ''), detail.reason === 'unknown' ? 'unknown' : 'malformed', {
        message: error.message,
        hint,
        cause,
      });
    case 'PE010':
      return new UnknownSubscriptionError(String(detail.subscription ?? ''), { cause });
    case 'PE011':
      return new SubscriptionDefinitionError(error.message, { hint, cause });
    case 'PE012':
      return new SubscriptionStateError(String(detail.subscription ?? ''), error.message, { hint, cause });
    case 'PE020':
      return new RebuildRefusedError(String(detail.projection ?? ''), error.message, {
        table: typeof detail.table === 'string' ? detail.table : null,
        hint,
        cause,
      });
    case 'PE021':
      return new RebuildConflictError(String(detail.projection ?? ''), error.message, { hint, cause });
    case 'PE022':
      return new LiveTableTouchedError(String(detail.projection ?? ''), String(detail.table ?? ''), detail.live === true, error.message, {
        hint,
        cause,
      });
    case 'PE023':
      return new SwapTimeoutError(String(detail.projection ?? ''), error.message, { hint, cause });
    case 'PE024':
      return new RebuildFailedError(String(detail.projection ?? ''), String(detail.sqlstate ?? ''), error.message, { hint, cause });
    case 'PE025':
      return new InvalidArgumentError(String(detail.field ?? ''), error.message, { hint, cause });
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
      if (error.constraint === 'events_stream_version_unique') {
        // A plain insert with an explicit version the stream already holds. The key in the detail
        // names the stream and that version; the stream is at least at it.
        const key = /\(([0-9a-f-]{36}), (\d+)\)/i.exec(error.detail ?? '');
        const version = key ? Number(key[2]) : 0;
        return new ConcurrencyError(key?.[1] ?? '', key ? String(version - 1) : '', version, { cause });
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
