import type { ExpectedVersion } from './types.js';

/**
 * Every error pgevents raises on purpose is a {@link PgEventsError} with a stable string `code`.
 * Errors from PostgreSQL that pgevents does not recognise pass through untouched.
 */
export class PgEventsError extends Error {
  /** Stable, machine-readable error code (see docs/errors.md). */
  readonly code: string;
  /** What the user can do about it, when pgevents knows. */
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }
}

/**
 * An append's expected version did not match the stream's version (or a plain INSERT stated a
 * version that is not the stream's next one). Nothing was written.
 */
export class ConcurrencyError extends PgEventsError {
  readonly stream: string;
  /**
   * The expected version the append was given, as given (`'no_stream'`, `'stream_exists'` or a
   * version); for a plain INSERT with an explicit version, that version minus one.
   */
  readonly expected: ExpectedVersion;
  /** The stream's version when the append was refused (for a plain INSERT, at least this). */
  readonly actual: number;

  constructor(stream: string, expected: ExpectedVersion, actual: number, options: { cause?: unknown } = {}) {
    super(
      'CONCURRENCY',
      `Wrong expected version: ${expected} (stream ${stream} is at version ${actual})`,
      { hint: 'Read the stream again, decide again, and append with its current version.', ...options },
    );
    this.stream = stream;
    this.expected = expected;
    this.actual = actual;
  }
}

/** An event, stream id or append option is malformed. Nothing was written. */
export class InvalidEventError extends PgEventsError {
  readonly field: string | undefined;
  readonly index: number | undefined;
  /** The line of an imported file the event is on (1 for the first line). */
  readonly line: number | undefined;

  constructor(message: string, options: { field?: string; index?: number; line?: number; hint?: string; cause?: unknown } = {}) {
    super('INVALID_EVENT', message, options);
    this.field = options.field;
    this.index = options.index;
    this.line = options.line;
  }
}

/** Some, but not all, of a batch's event ids are already stored, or are stored in another stream (or an import repeats one). */
export class DuplicateEventError extends PgEventsError {
  readonly stream: string | undefined;
  /** The line of an imported file the event is on (1 for the first line). */
  readonly line: number | undefined;

  constructor(message: string, options: { stream?: string; line?: number; hint?: string; cause?: unknown } = {}) {
    super('DUPLICATE_EVENT', message, options);
    this.stream = options.stream;
    this.line = options.line;
  }
}

/** An UPDATE, DELETE or TRUNCATE of events was attempted. */
export class ImmutableEventsError extends PgEventsError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('IMMUTABLE_EVENTS', message, options);
  }
}

/**
 * An append to a tombstoned stream (by any path: append, append_events, a plain INSERT, COPY, an
 * import), or an archive of one. Nothing was written; the stream takes no events ever again.
 */
export class StreamTombstonedError extends PgEventsError {
  readonly stream: string;

  constructor(stream: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('STREAM_TOMBSTONED', message, options);
    this.stream = stream;
  }
}

/**
 * An append to an archived stream (by any path), or a read of one without `includeArchived`.
 * Nothing was written; unarchive the stream (`unarchiveStream`) to append to it again.
 */
export class StreamArchivedError extends PgEventsError {
  readonly stream: string;

  constructor(stream: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('STREAM_ARCHIVED', message, options);
    this.stream = stream;
  }
}

/**
 * An INSERT or COPY aimed at a partition of a partitioned events table instead of the table
 * itself (docs/scale-out.md). Nothing was written; append through the events table.
 */
export class DirectPartitionWriteError extends PgEventsError {
  readonly partition: string;

  constructor(partition: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('DIRECT_PARTITION_WRITE', message, options);
    this.partition = partition;
  }
}

/**
 * In a store in tenant mode (docs/scale-out.md#a-tenant-column-with-row-level-security): an
 * append, plain INSERT or import by a tenant role to a stream of another tenant (`PE040`). It says
 * only that the stream id is taken; nothing was written.
 */
export class ForeignStreamError extends PgEventsError {
  readonly stream: string;

  constructor(stream: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('FOREIGN_STREAM', message, options);
    this.stream = stream;
  }
}

/**
 * Tenant mode refused (`PE041`): enabling it on PostgreSQL 14 or older, granting a tenant role
 * before it is enabled, to a role row-level security does not restrict, to a role of another
 * tenant or with another kind of access, or an append by a role of several tenants.
 */
export class TenantModeError extends PgEventsError {
  readonly role: string | undefined;

  constructor(role: string | undefined, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('TENANT_MODE', message, options);
    this.role = role;
  }
}

/** No projection of that name is defined. */
export class UnknownProjectionError extends PgEventsError {
  readonly projection: string;

  constructor(projection: string, options: { cause?: unknown } = {}) {
    super('UNKNOWN_PROJECTION', `Unknown projection: ${projection}`, {
      hint: 'List the defined projections with `pgevents status`.',
      ...options,
    });
    this.projection = projection;
  }
}

/** A projection definition was refused (bad name, missing handler, unsafe handler, missing table). */
export class ProjectionDefinitionError extends PgEventsError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('INVALID_PROJECTION', message, options);
  }
}

/** A projection handler raised while applying an event. The append (or replay) wrote nothing. */
export class ProjectionHandlerError extends PgEventsError {
  readonly projection: string;
  /** The event the handler failed on; for a batch handler, the batch's first event. */
  readonly eventType: string;
  readonly stream: string;
  readonly version: number;
  /** The position of that event. */
  readonly position: number;
  /** For a batch handler: the position of the batch's last event, and how many events it held. */
  readonly batch: { lastPosition: number; events: number } | null;
  /** The SQLSTATE the handler raised. */
  readonly sqlState: string;

  constructor(
    fields: {
      projection: string;
      eventType: string;
      stream: string;
      version: number;
      position?: number;
      batch?: { lastPosition: number; events: number } | null;
      sqlState: string;
      message: string;
    },
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(
      'PROJECTION_FAILED',
      fields.batch
        ? `Projection ${fields.projection} failed on a batch of ${fields.batch.events} events (positions ${fields.position ?? '?'} to ${fields.batch.lastPosition}): ${fields.message}`
        : `Projection ${fields.projection} failed on event ${fields.eventType} (stream ${fields.stream}, version ${fields.version}): ${fields.message}`,
      options,
    );
    this.projection = fields.projection;
    this.eventType = fields.eventType;
    this.stream = fields.stream;
    this.version = fields.version;
    this.position = fields.position ?? 0;
    this.batch = fields.batch ?? null;
    this.sqlState = fields.sqlState;
  }
}

/** A replay or refresh was refused as asked (wrong kind of projection, no stream column, isolation level). */
export class ReplayRefusedError extends PgEventsError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('REPLAY_REFUSED', message, options);
  }
}

/**
 * A rebuild (or verify) was refused for this projection: a materialized view, no tables, a table
 * that a swap cannot carry over (dependent views, foreign keys from other tables, triggers, …), a
 * handler whose table references cannot be redirected, or the wrong isolation level. Nothing changed.
 */
export class RebuildRefusedError extends PgEventsError {
  readonly projection: string;
  /** The table concerned, when one is. */
  readonly table: string | null;

  constructor(projection: string, message: string, options: { table?: string | null; hint?: string; cause?: unknown } = {}) {
    super('REBUILD_REFUSED', message, options);
    this.projection = projection;
    this.table = options.table ?? null;
  }
}

/**
 * The rebuild is not in a state for this operation: none in progress, already done or failed, or
 * the projection (or its handlers, or its tables' columns) changed since it began, so it must restart.
 */
export class RebuildConflictError extends PgEventsError {
  readonly projection: string;

  constructor(projection: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('REBUILD_CONFLICT', message, options);
    this.projection = projection;
  }
}

/**
 * A handler (or the rebuild statement) read or wrote a table other than the shadow copies: it names
 * a table schema-qualified, or writes a table that is not one of the projection's. The batch was
 * rolled back, so the live tables are unchanged; the rebuild is recorded as failed.
 */
export class LiveTableTouchedError extends PgEventsError {
  readonly projection: string;
  readonly table: string;
  /** Whether the table is one of the projection's live tables. */
  readonly live: boolean;

  constructor(projection: string, table: string, live: boolean, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('LIVE_TABLE_TOUCHED', message, options);
    this.projection = projection;
    this.table = table;
    this.live = live;
  }
}

/**
 * The swap did not get its locks in time, as many times as allowed: appends of the projection's
 * event types, or readers of its tables in long transactions, held them. Nothing changed; run the
 * rebuild again to resume it.
 */
export class SwapTimeoutError extends PgEventsError {
  readonly projection: string;

  constructor(projection: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('SWAP_TIMEOUT', message, options);
    this.projection = projection;
  }
}

/** A projection's rebuild statement (the fast path) failed, or a rebuild failed for a reason not covered above. */
export class RebuildFailedError extends PgEventsError {
  readonly projection: string;
  /** The SQLSTATE the statement raised. */
  readonly sqlState: string;

  constructor(projection: string, sqlState: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('REBUILD_FAILED', message, options);
    this.projection = projection;
    this.sqlState = sqlState;
  }
}

/** An argument to the TypeScript API or the CLI is malformed. */
export class InvalidArgumentError extends PgEventsError {
  readonly argument: string;

  constructor(argument: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('INVALID_ARGUMENT', message, options);
    this.argument = argument;
  }
}

/** A cursor is malformed, or is not the place of an event of this store (e.g. from another database). */
export class InvalidCursorError extends InvalidArgumentError {
  override readonly code: string = 'INVALID_CURSOR';
  /** The cursor as given. */
  readonly cursor: string;
  readonly reason: 'malformed' | 'unknown';

  constructor(
    argument: string,
    cursor: string,
    reason: 'malformed' | 'unknown',
    options: { message?: string; hint?: string; cause?: unknown } = {},
  ) {
    super(
      argument,
      options.message ??
        (reason === 'malformed'
          ? `Invalid cursor: ${JSON.stringify(cursor.slice(0, 60))} is not a cursor`
          : `Unknown cursor: ${cursor} is not the place of an event in this store`),
      {
        hint:
          options.hint ??
          "Use 'start', 'end', or a cursor handed out by this store (readAll, a subscription, pgevents tail), e.g. '1234-56'.",
        cause: options.cause,
      },
    );
    this.cursor = cursor;
    this.reason = reason;
  }
}

/** No subscription (or async projection) of that name exists. */
export class UnknownSubscriptionError extends PgEventsError {
  readonly subscription: string;

  constructor(subscription: string, options: { cause?: unknown } = {}) {
    super('UNKNOWN_SUBSCRIPTION', `Unknown subscription: ${subscription}`, {
      hint: 'List the subscriptions with `pgevents subscriptions`.',
      ...options,
    });
    this.subscription = subscription;
  }
}

/** A subscription (or follower) stopped, or was stopped, before it caught up, while a caller awaited `caughtUp()`. */
export class SubscriptionStoppedError extends PgEventsError {
  /** The subscription's name; null for a follower (`tail`), which has none. */
  readonly subscription: string | null;

  constructor(subscription: string | null) {
    super(
      'SUBSCRIPTION_STOPPED',
      subscription === null ? 'The follower stopped before it caught up' : `Subscription ${subscription} stopped before it caught up`,
      { hint: 'Await caughtUp() before stopping it; a failed subscription reports why in its status.' },
    );
    this.subscription = subscription;
  }
}

/** A subscription was refused: a bad name, or the name belongs to an async projection. */
export class SubscriptionDefinitionError extends PgEventsError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('INVALID_SUBSCRIPTION', message, options);
  }
}

/** A subscription operation does not fit its state (skip or resume one that has not failed, …). */
export class SubscriptionStateError extends PgEventsError {
  readonly subscription: string;

  constructor(subscription: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super('SUBSCRIPTION_STATE', message, options);
    this.subscription = subscription;
  }
}

/** Another process (or another runner in this one) runs the subscription, and `ifRunning` is `'fail'`. */
export class SubscriptionInUseError extends PgEventsError {
  readonly subscription: string;
  /** Who runs it (host:pid), when known. */
  readonly runner: string | null;

  constructor(subscription: string, runner: string | null) {
    super('SUBSCRIPTION_IN_USE', `Subscription ${subscription} is already running${runner ? ` (in ${runner})` : ''}`, {
      hint: "Only one process runs a subscription at a time: stop the other one, or subscribe with ifRunning: 'wait' to take over when it stops.",
    });
    this.subscription = subscription;
    this.runner = runner;
  }
}

/**
 * A subscription's handler failed on one event as many times as allowed: delivery stopped at that
 * event (state `failed`). The handler's last error is the `cause`.
 */
export class SubscriptionFailedError extends PgEventsError {
  readonly subscription: string;
  /** The event's position, cursor, type, stream and version. */
  readonly position: number;
  readonly cursor: string;
  readonly eventType: string;
  readonly stream: string;
  readonly version: number;
  readonly attempts: number;

  constructor(
    fields: {
      subscription: string;
      position: number;
      cursor: string;
      eventType: string;
      stream: string;
      version: number;
      attempts: number;
      message: string;
    },
    options: { cause?: unknown } = {},
  ) {
    super(
      'SUBSCRIPTION_FAILED',
      `Subscription ${fields.subscription} failed on event ${fields.eventType} at position ${fields.position} ` +
        `(stream ${fields.stream}, version ${fields.version}) after ${fields.attempts} attempt${fields.attempts === 1 ? '' : 's'}: ${fields.message}`,
      {
        hint: `Fix the handler and restart the subscription, or run \`pgevents subscriptions resume ${fields.subscription}\` to retry the event, or \`pgevents subscriptions skip ${fields.subscription}\` to skip it.`,
        ...options,
      },
    );
    this.subscription = fields.subscription;
    this.position = fields.position;
    this.cursor = fields.cursor;
    this.eventType = fields.eventType;
    this.stream = fields.stream;
    this.version = fields.version;
    this.attempts = fields.attempts;
  }
}

/**
 * The embedded engine is one connection: a statement was sent outside the open transaction from
 * inside that transaction's callback, which would wait forever.
 */
export class EmbeddedConnectionBusyError extends PgEventsError {
  constructor() {
    super(
      'EMBEDDED_CONNECTION_BUSY',
      'The embedded engine has one connection, and this code runs inside its open transaction: a statement sent outside that transaction would wait forever',
      { hint: 'Inside a transaction (or a transactional subscription handler) pass the transaction you were given, e.g. { client: tx }.' },
    );
  }
}

/** The pgevents schema is not installed in this database (or is older than this code). */
export class SchemaNotInstalledError extends PgEventsError {
  constructor(schema: string, options: { cause?: unknown } = {}) {
    super('SCHEMA_NOT_INSTALLED', `The pgevents schema "${schema}" is not installed (or not up to date) in this database`, {
      hint: 'Run `pgevents migrate` (or `await store.migrate()`).',
      ...options,
    });
  }
}

/** The database has migrations this code does not know: it was installed by a newer pgevents. */
export class SchemaNewerThanCodeError extends PgEventsError {
  /** With `definitionsOnly`, the migrations match but the store runs definitions newer than this code's. */
  constructor(schema: string, databaseVersion: number, codeVersion: number, definitionsOnly = false) {
    super(
      'SCHEMA_NEWER_THAN_CODE',
      definitionsOnly
        ? `The pgevents schema "${schema}" runs function and view definitions newer than this code's (both at migration ${codeVersion})`
        : `The pgevents schema "${schema}" is at migration ${databaseVersion}, newer than this code knows (${codeVersion})`,
      { hint: 'Upgrade pgevents to the version that installed this schema; never downgrade a store in place.' },
    );
  }
}

/** An applied migration's checksum differs from the file shipped with this code. */
export class MigrationChecksumError extends PgEventsError {
  constructor(schema: string, migration: string) {
    super('MIGRATION_CHANGED', `Migration ${migration} applied in schema "${schema}" differs from the file shipped with this code`, {
      hint: 'Released migration files never change: reinstall the pgevents version that installed this schema.',
    });
  }
}

/** The server is older than the oldest PostgreSQL pgevents supports. */
export class ServerVersionError extends PgEventsError {
  constructor(version: string) {
    super('SERVER_TOO_OLD', `PostgreSQL ${version} is too old: pgevents needs PostgreSQL 14 or newer`, {
      hint: 'Upgrade the server, or use the embedded engine.',
    });
  }
}

/** Another process (or another store in this process) has the embedded database open. */
export class DataDirInUseError extends PgEventsError {
  readonly dataDir: string;
  readonly pid: number | undefined;

  constructor(dataDir: string, pid: number | undefined) {
    super(
      'DATA_DIR_IN_USE',
      `The embedded database at ${dataDir} is in use by ${pid === process.pid ? 'this process' : `another process${pid ? ` (pid ${pid})` : ''}`}`,
      {
        hint:
          pid === process.pid
            ? 'Close the other store first, or share one store instance.'
            : 'Stop that process (the embedded engine allows one at a time), or use another --data-dir.',
      },
    );
    this.dataDir = dataDir;
    this.pid = pid;
  }
}
