import {
  defineEventType,
  defineUpcaster,
  dropEventType,
  type EventTypeDeclaration,
  listDeclaredEventTypes,
  listUpcasters,
  setStrictEventTypes,
  strictEventTypes,
} from './store/declared-types.js';
import type { Attributes } from '@opentelemetry/api';
import { AppendStats, type StoreTelemetry } from './telemetry/append-stats.js';
import { baseAttributes, inSpan, SpanKind } from './telemetry/tracing.js';
import { collectMetrics, type MetricFamily } from './status/metrics.js';
import { aggregateStream, handleCommand } from './command/handle.js';
import { defineSnapshot, dropSnapshot, listSnapshots } from './projections/snapshots.js';
import type { Aggregate, AggregateOptions, CommandHandler, EventShape, HandleOptions, HandleResult, StreamFold } from './command/types.js';
import { queryableFromClient } from './db/client-adapter.js';
import type { Engine, Executor, Queryable } from './db/executor.js';
import { createPgExecutor, type PgPool } from './db/pg-executor.js';
import { createPgliteExecutor, type PGlite } from './db/pglite-executor.js';
import { InvalidArgumentError } from './errors.js';
import { type ImportEventsOptions, type ImportEventsResult, type ImportSource, importEvents } from './import/import-events.js';
import { migrate, schemaVersion } from './migrations/runner.js';
import { assertPartitions, type EventLayout, eventLayout, eventPartitions, partitionEvents, type PartitionEventsOptions, settleEventLayout, type PartitionEventsResult } from './store/partitions.js';
import {
  type ListProjectionTablesOptions,
  listProjectionTables,
  type ProjectionRowsPage,
  type ProjectionTable,
  type ReadProjectionRowsOptions,
  readProjectionRows,
} from './projections/projection-tables.js';
import {
  defineMaterializedView,
  defineProjection,
  dropProjection,
  listProjections,
  refreshMaterializedView,
} from './projections/projections.js';
import { cancelRebuild, rebuildProgress, rebuildProjection } from './rebuild/rebuild.js';
import { verifyProjection } from './rebuild/verify.js';
import { replayProjection } from './replay/replay.js';
import { enableTenantPolicy, enableTenants, type GrantOptions, grantRoles } from './security/grant.js';
import { type AppendsPerMinute, appendsPerMinute } from './status/appends-per-minute.js';
import { listEventTypes } from './status/event-types.js';
import { readPermissions, type StorePermissions } from './status/permissions.js';
import { storeStatus } from './status/status.js';
import { asyncProjectionDefinition } from './subscriptions/async-projection.js';
import { LogFollower } from './subscriptions/follow.js';
import {
  listSubscriptions,
  resetSubscription,
  resumeSubscription,
  skipSubscriptionEvent,
} from './subscriptions/manage.js';
import { isAsyncProjection, replayAsyncProjection } from './subscriptions/replay-async.js';
import { SubscriptionRunner } from './subscriptions/runner.js';
import { subscriptionDefinition } from './subscriptions/subscribe.js';
import { appendEvents } from './store/append.js';
import { countHeldBackEvents } from './store/held-back.js';
import { readAll, readStream } from './store/read.js';
import { type ReadAllBackwardOptions, readAllBackward } from './store/read-backward.js';
import { readEvent } from './store/read-event.js';
import {
  archiveStream,
  type StreamLifecycleOptions,
  type StreamLifecycleState,
  type StreamState,
  streamState,
  tombstoneStream,
  truncateStreamBefore,
  type TruncateStreamBeforeOptions,
  unarchiveStream,
} from './store/lifecycle.js';
import {
  declarePersonalData,
  type Erasure,
  type ForgetOptions,
  type ForgetResult,
  forgetSubject,
  listErasures,
  type ListErasuresOptions,
  type PersonalDataDeclaration,
  personalDataDeclarations,
  rotateSubjectKey,
} from './store/personal-data.js';
import { type ListStreamsOptions, type ListStreamsResult, listStreams, streamVersion } from './store/streams.js';
import type {
  AppendOptions,
  AppendResult,
  AsyncProjectionOptions,
  DefineMaterializedViewOptions,
  DefineProjectionOptions,
  EventTypeStatus,
  Follower,
  FollowOptions,
  MigrateResult,
  NewEvent,
  ProjectionInfo,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  RebuildOptions,
  RebuildProgress,
  RebuildResult,
  ReplayOptions,
  ReplayResult,
  SqlClient,
  StoredEvent,
  StoreStatus,
  SubscribeOptions,
  Subscription,
  SubscriptionInfo,
  VerifyOptions,
  VerifyResult, DeclaredEventType, EventUpcaster, DefineSnapshotOptions, SnapshotInfo } from './types.js';

export interface OpenEventStoreOptions {
  /** PostgreSQL server connection string. Default: `DATABASE_URL`; without either, the embedded engine. */
  url?: string;
  /** Use this `pg` pool (the store does not close it). */
  pool?: PgPool;
  /** Embedded engine data directory, default `./.pgevents`. */
  dataDir?: string;
  /** Use this PGlite instance (the store does not close it). */
  pglite?: PGlite;
  /** Schema that holds the event store, default `pgevents`. */
  schema?: string;
  /** Apply pending migrations while opening. Default false. */
  migrate?: boolean;
  /**
   * The layout of the events table: partitioned by a hash of the stream into this many partitions
   * (2 to 1024), or one table (0, the default layout of a new store). Applied to a store whose log
   * is empty (a new one); a store with events in another layout is refused with an
   * InvalidArgumentError: move it with {@link EventStore.partitionEvents} (it locks the log while
   * it copies it; see docs/scale-out.md).
   */
  partitions?: number;
  /**
   * With `partitions` (0 too): keep the events of archived streams in a partition of their own,
   * out of the live events' indexes (docs/stream-lifecycle.md). Default false for a new store.
   */
  archivePartition?: boolean;
  /** Pool size when the store creates a `pg` pool, default 10. */
  poolSize?: number;
  /**
   * The `application_name` of every server connection the store opens (its pool, and the sessions
   * that subscriptions, async projections and followers hold to LISTEN), so that operators can tell
   * them apart in `pg_stat_activity`. Default `pgevents` (an `application_name` in the url wins). A
   * caller's `pool` keeps its own name; the store's LISTEN sessions take this one when given.
   * Printable ASCII, at most 63 characters (PostgreSQL's limit).
   */
  applicationName?: string;
  /**
   * Store the W3C `traceparent` of each append's span in its events' metadata (when an
   * OpenTelemetry SDK records it), so that a subscriber's span links to the producer's across
   * processes. Default true; an event's own `traceparent` is kept.
   */
  traceContext?: boolean;
  /**
   * A hot standby of the server (streaming replication) for the log's gap-safe reads: readAll,
   * readAllBackward, readEvent, listStreams, and the pages that subscriptions, async projections
   * and followers read. Writes, stream reads, commands, checkpoints, locks and LISTEN stay on the
   * primary. A standby that lags shows less, never a gap. Default: `PGEVENTS_REPLICA_URL` when the
   * server is `DATABASE_URL`'s; the embedded engine has none.
   */
  replicaUrl?: string;
  /** Or use this `pg` pool of the standby (the store does not close it). */
  replicaPool?: PgPool;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** An open event store on one engine. Create it with {@link openEventStore}. */
export class EventStore {
  readonly #executor: Executor;
  /** The hot standby of the log's gap-safe reads, when there is one. */
  readonly #replica: Executor | undefined;
  /** Subscriptions, async projections and followers running in this store, stopped by close(). */
  readonly #readers = new Set<SubscriptionRunner | LogFollower>();
  /** Schema that holds the event store. */
  readonly schema: string;

  readonly #telemetry: StoreTelemetry;
  /** Appends through this object since it opened (its Prometheus families). */
  readonly #appendStats = new AppendStats();

  /** @internal use {@link openEventStore} */
  constructor(
    executor: Executor,
    schema: string,
    telemetry: { traceContext: boolean } = { traceContext: true },
    replica?: Executor,
  ) {
    this.#executor = executor;
    this.#replica = replica;
    this.schema = schema;
    this.#telemetry = { ...telemetry, appendStats: this.#appendStats };
  }

  /** Runs an operation of the store in a span of its own (kind INTERNAL unless said). */
  #traced<T>(name: string, attributes: Attributes, fn: () => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
    return inSpan(name, { kind, attributes: { ...baseAttributes(this.schema), ...attributes } }, fn);
  }

  /** Whether the log's gap-safe reads go to a hot standby (`replicaUrl`). */
  get replicated(): boolean {
    return this.#replica !== undefined;
  }

  /** Where the log's gap-safe reads go: the standby when there is one. */
  get #reads(): Executor {
    return this.#replica ?? this.#executor;
  }

  /** `'embedded'` (PGlite) or `'server'` (a PostgreSQL server). */
  get engine(): Engine {
    return this.#executor.engine;
  }

  #db(client: SqlClient | undefined): Queryable {
    return client ? queryableFromClient(client, this.schema) : this.#executor;
  }

  /**
   * Applies pending migrations; idempotent, and safe when several processes run it at once.
   * @throws {SchemaNewerThanCodeError} when the database was installed by a newer pgevents.
   * @throws {MigrationChecksumError} when an applied migration differs from the shipped file.
   */
  migrate(): Promise<MigrateResult> {
    return migrate(this.#executor, this.schema);
  }

  /** How many hash partitions by stream the events table has: 0 for none (see {@link partitionEvents}). */
  eventPartitions(): Promise<number> {
    return eventPartitions(this.#executor, this.schema);
  }

  /** The layout of the events table: its hash partitions and whether it has an archive partition. */
  eventLayout(): Promise<EventLayout> {
    return eventLayout(this.#executor, this.schema);
  }

  /**
   * Moves the events table to `partitions` partitions by a hash of the stream (2 to 1024), or back
   * to one table (0). Positions, versions, event ids, projections, subscriptions and privileges are
   * kept; the functions and views that name the events row type (projection handlers taking an
   * event row included) are created again. One transaction that locks the log, so appends and
   * reads wait for it: `lockedMs` says for how long. The store's owner's only. See
   * docs/scale-out.md, Partitioned events. `archivePartition: true` keeps the events of archived
   * streams in a partition of their own, out of the live events' indexes (default: as now).
   * @throws {InvalidArgumentError} for a number of partitions out of range.
   * @example
   * const { lockedMs } = await store.partitionEvents(16);
   */
  partitionEvents(partitions: number, options: PartitionEventsOptions = {}): Promise<PartitionEventsResult> {
    return partitionEvents(this.#executor, this.schema, partitions, options);
  }

  /** The schema's migration number (0 when not installed). */
  schemaVersion(): Promise<number> {
    return schemaVersion(this.#executor, this.schema);
  }

  /**
   * Appends events to one stream atomically, in one round trip.
   * @throws {ConcurrencyError} when `expectedVersion` does not match; nothing is written.
   * @throws {InvalidEventError} for a malformed stream id or event; nothing is written.
   * @throws {DuplicateEventError} when only some of the batch's ids are already stored.
   * @throws {ProjectionHandlerError} when a projection handler raises; nothing is written.
   * @example
   * const { nextVersion } = await store.append(userId, [{ type: 'user_create', body: { name: 'Ada' } }], {
   *   expectedVersion: 'no_stream',
   * });
   */
  append(stream: string, events: NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    return appendEvents(this.#db(options.client), this.schema, stream, events, options.expectedVersion, this.#telemetry);
  }

  /**
   * Folds a stream into its state: `initial()`, then `evolve(state, event)` for each of its events
   * in version order (type the fold as a `StreamFold<State, EventUnion>` or a `CommandHandler` to
   * have its events typed). Returns the state and the version of the last event folded (0: no events).
   * @throws {InvalidEventError} for a stream id that is not a uuid.
   * @throws {InvalidArgumentError} when `initial` or `evolve` is not a function.
   * @example
   * const { state, version } = await store.aggregate(userId, { initial: () => ({ name: '' }), evolve: (s, e) => ({ name: String(e.body.name) }) });
   */
  aggregate<F extends StreamFold<any, any>>(stream: string, fold: F, options: AggregateOptions = {}): Promise<Aggregate<ReturnType<F['initial']>>> {
    return this.#traced('aggregate', { 'pgevents.stream': String(stream), ...(fold?.snapshot ? { 'pgevents.snapshot': fold.snapshot } : {}) }, () =>
      aggregateStream(this.#db(options.client), this.schema, stream, fold),
    );
  }

  /**
   * Handles a command: folds the stream (as {@link aggregate}), calls `decide(command, state)`, and
   * appends the events it returns with the folded version as the expected version, in one round
   * trip. When another writer appended in between, folds and decides again (at most `maxAttempts`
   * times, default 10, with a short random pause). Give the events ids derived from the command
   * to make a repeated command store nothing twice.
   * @throws {ConcurrencyError} when every attempt met a conflict (or, with `client`, the one attempt did).
   * @throws whatever `decide` throws (the command is refused; nothing is written).
   * @throws {InvalidEventError} for a malformed stream id or event; nothing is written.
   * @example
   * const { nextVersion } = await store.handle(userId, users, { kind: 'rename', name: 'Ada' });
   */
  handle<State, E extends EventShape, Command>(
    stream: string,
    handler: CommandHandler<State, E, Command>,
    command: Command,
    options: HandleOptions = {},
  ): Promise<HandleResult<State>> {
    return this.#traced('handle', { 'pgevents.stream': String(stream) }, () =>
      handleCommand(this.#db(options.client), this.schema, stream, handler, command, options, this.#telemetry),
    );
  }

  /**
   * Imports events in bulk from NDJSON or CSV (a file path, or a stream of text): every line is
   * checked as it is read and loaded by COPY, then all are appended to their streams (after each
   * stream's current version, in file order) by one statement, in one transaction, so that
   * projections run once for the whole import. Events whose id is already stored in their stream are skipped: running an import again
   * stores nothing twice. Bad input, or any failure, stores nothing.
   * @throws {InvalidArgumentError} for an unknown format, or a file that cannot be read.
   * @throws {InvalidEventError} for a bad line, naming it (`line`); nothing is stored.
   * @throws {DuplicateEventError} for an event id stored in another stream, or repeated in the input; nothing is stored.
   * @throws {ProjectionHandlerError} when a projection handler raises; nothing is stored.
   * @throws {SchemaNotInstalledError} when the schema is older than bulk import: migrate it.
   * @example
   * const { imported, skipped } = await store.importEvents('events.ndjson', {
   *   onProgress: ({ events }) => console.log(`${events} events loaded`),
   * });
   */
  importEvents(source: ImportSource, options: ImportEventsOptions = {}): Promise<ImportEventsResult> {
    return importEvents(this.#executor, this.schema, source, options);
  }

  /** Events of one stream in version order. @throws {InvalidEventError} for a stream id that is not a uuid. */
  readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    return this.#traced('read_stream', { 'db.operation.name': 'read_stream', 'pgevents.stream': String(stream) }, () =>
      readStream(this.#db(options.client), this.schema, stream, options), SpanKind.CLIENT);
  }

  /**
   * Gap-safe read of the whole log, after a cursor: only events of finished transactions, in a
   * stable total order, so that no event can later appear before a cursor already handed out.
   * @throws {InvalidArgumentError} for a malformed cursor.
   */
  readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    return this.#traced('read_all', { 'db.operation.name': 'read_all' }, () => readAll(options.client ? this.#db(options.client) : this.#reads, this.schema, options), SpanKind.CLIENT);
  }

  /**
   * The log in readAll's gap-safe order, backwards: newest first. Without `before`, from the newest
   * event readAll would hand out now (events an open transaction holds back are left out); with
   * `before` (an event's cursor, or one from readAll), every event before it. The result's cursor
   * is the oldest event's (else `before`, else `0-0`): pass it as `before` to read on.
   * @throws {InvalidArgumentError} for a malformed cursor, or a limit that is not an integer from 1 to 100,000.
   * @example
   * const { events } = await store.readAllBackward({ limit: 10 }); // the ten newest events
   */
  readAllBackward(options: ReadAllBackwardOptions = {}): Promise<ReadAllResult> {
    return readAllBackward(this.#reads, this.schema, options);
  }

  /**
   * The event at a position, or null when none is stored there (positions have gaps); also an
   * event that an open transaction still holds back from readAll.
   * @throws {InvalidArgumentError} for a position that is not a positive integer.
   */
  readEvent(position: number): Promise<StoredEvent | null> {
    return readEvent(this.#reads, this.schema, position);
  }

  /**
   * How many committed events readAll (and every subscription) holds back right now, because a
   * transaction that took its id before theirs and might write this database's events is still
   * open (transactions of other databases of the cluster do not count); counted up to `max`
   * (default 10,000).
   * @throws {InvalidArgumentError} for a `max` that is not a positive integer.
   */
  heldBackEvents(options: { max?: number } = {}): Promise<number> {
    return countHeldBackEvents(this.#executor, this.schema, options.max);
  }

  /**
   * Streams that match a uuid prefix, an event type and a time range, most recently written
   * first, a page at a time.
   * @throws {InvalidArgumentError} for a prefix that is not hex digits, or a bad time, limit or offset.
   * @example
   * const { streams, hasMore } = await store.listStreams({ prefix: '3f2a', type: 'user_create', limit: 25 });
   */
  listStreams(options: ListStreamsOptions = {}): Promise<ListStreamsResult> {
    return listStreams(this.#reads, this.schema, options);
  }

  /** A stream's version: how many events it holds (0 when none). @throws {InvalidEventError} for a stream id that is not a uuid. */
  streamVersion(stream: string): Promise<number> {
    return streamVersion(this.#executor, this.schema, stream);
  }

  /**
   * Declares the personal data of an event type: which `fields` of its body (dot-separated paths)
   * are personal and whose they are (`subject`: `'stream'`, `'body.<path>'` or
   * `'metadata.<path>'`). From then on every append of the type, by any path, stores those fields
   * encrypted with the subject's key; reads, subscriptions, replays and projections see them
   * decrypted (for roles that may read the keys), and {@link forget} erases them. The store's
   * owner's only. See docs/personal-data.md.
   * @throws {InvalidArgumentError} for an empty type, no fields or an invalid subject.
   * @example
   * await store.declarePersonalData({ type: 'UserRegistered', fields: ['email', 'address.street'], subject: 'body.userId' });
   */
  declarePersonalData(declaration: PersonalDataDeclaration): Promise<void> {
    return declarePersonalData(this.#executor, this.schema, declaration);
  }

  /** The declarations of personal data ({@link declarePersonalData}), by type. */
  personalDataDeclarations(): Promise<PersonalDataDeclaration[]> {
    return personalDataDeclarations(this.#executor, this.schema);
  }

  /**
   * Forgets a data subject (crypto-shredding): deletes its key, so that its personal fields read
   * `{"$pgevents": "erased"}` from then on; appends the audit event `pgevents.subject_forgotten`
   * (key ids, who, when, why; no personal data) to the audit stream
   * `00000000-0000-0000-0000-0000000f0e75`; replays every trigger projection (snapshots included)
   * that handles a declared type, resets the async projections that do, cancels their unfinished
   * rebuilds and erases the subject's values from recorded errors, so that no copy pgevents made
   * keeps them. One transaction; then the tables it changed are compacted (VACUUM FULL and old WAL
   * removed on the embedded engine, VACUUM on a server). The store's owner's only.
   * @throws {InvalidArgumentError} for a missing reason, or a subject without a key (never used or already forgotten).
   * @example
   * await store.forget('user-42', { reason: 'erasure request #123' });
   */
  forget(subject: string, options: ForgetOptions): Promise<ForgetResult> {
    return forgetSubject(this.#executor, this.schema, subject, options);
  }

  /**
   * The erasures recorded by {@link forget} (its audit events: keys, who, when, why, what it
   * replayed; no personal data), newest first; with `stream`, those that erased fields of that
   * stream's events.
   * @throws {InvalidArgumentError} for a limit out of range.
   */
  listErasures(options: ListErasuresOptions = {}): Promise<Erasure[]> {
    return listErasures(this.#executor, this.schema, options);
  }

  /**
   * Rotates a data subject's key: the current one is retired (it still decrypts what it encrypted)
   * and the subject's next personal field gets a new key. Events are never rewritten; {@link forget}
   * deletes every key of the subject. The store's owner's only. Returns the retired key's id.
   * @throws {InvalidArgumentError} for a subject without a current key.
   */
  rotateSubjectKey(subject: string): Promise<number> {
    return rotateSubjectKey(this.#executor, this.schema, subject);
  }

  /**
   * The state of a stream (live, archived or tombstoned), its version, how many events it holds,
   * the lowest version it holds and its last lifecycle change; null for a stream never seen.
   * @throws {InvalidEventError} for a stream id that is not a uuid.
   */
  streamState(stream: string): Promise<StreamState | null> {
    return streamState(this.#executor, this.schema, stream);
  }

  /**
   * Archives a stream: its events stay in the log, in every replay, rebuild and subscription, but
   * `readStream` returns them only with `includeArchived`, and appends to it are refused
   * (StreamArchivedError) until {@link unarchiveStream}. Audited (who, when, `reason`). The store's
   * owner and operators may. Returns the new state; archiving an archived stream changes nothing.
   * @throws {InvalidArgumentError} for an unknown stream or a missing reason.
   * @throws {StreamTombstonedError} for a tombstoned stream.
   * @example
   * await store.archiveStream(orderId, { reason: 'order closed 2 years ago' });
   */
  archiveStream(stream: string, options: StreamLifecycleOptions): Promise<StreamLifecycleState> {
    return archiveStream(this.#executor, this.schema, stream, options);
  }

  /**
   * Makes an archived stream live again (appends and plain reads accepted). Audited.
   * @throws {InvalidArgumentError} for an unknown stream or a missing reason.
   * @throws {StreamTombstonedError} for a tombstoned stream.
   */
  unarchiveStream(stream: string, options: StreamLifecycleOptions): Promise<StreamLifecycleState> {
    return unarchiveStream(this.#executor, this.schema, stream, options);
  }

  /**
   * Tombstones a stream: no append by any path is ever accepted again (StreamTombstonedError) and
   * the id is never reused; its events stay readable. A stream without events may be tombstoned
   * (that reserves its id). Audited. The store's owner's only.
   * @throws {InvalidArgumentError} for a missing reason.
   */
  tombstoneStream(stream: string, options: StreamLifecycleOptions): Promise<StreamLifecycleState> {
    return tombstoneStream(this.#executor, this.schema, stream, options);
  }

  /**
   * Deletes a stream's events below `beforeVersion`, the only sanctioned way to delete events: the
   * store's owner's only, audited (who, when, why, how many). The last event is always kept, so
   * versions are never reused. Unless `withoutSnapshot`, a snapshot (defineSnapshot) of the stream
   * must already reach `beforeVersion - 1`. Replays and rebuilds afterwards fold what is left.
   * @throws {InvalidArgumentError} for an unknown stream, a missing reason, a version out of range, or no snapshot reaching it.
   * @example
   * await store.truncateStreamBefore(accountId, 1000, { reason: 'snapshot at 999 keeps the state' });
   */
  truncateStreamBefore(stream: string, beforeVersion: number, options: TruncateStreamBeforeOptions): Promise<{ deleted: number }> {
    return truncateStreamBefore(this.#executor, this.schema, stream, beforeVersion, options);
  }

  /**
   * Defines (or redefines) a trigger projection: pgevents generates the trigger that calls the
   * handlers in the appending transaction.
   * @throws {ProjectionDefinitionError} for a bad name, a missing or unsafe handler, or a missing table.
   * @example
   * await store.defineProjection({
   *   name: 'users',
   *   handlers: { user_create: 'public.project_user_create', user_update: 'public.project_user_update' },
   *   tables: ['public.users'],
   *   streamColumn: 'uuid',
   * });
   */
  defineProjection(options: DefineProjectionOptions): Promise<void> {
    return defineProjection(this.#db(options.client), this.schema, options);
  }

  /** Drops a projection (and its tables with `dropTables`). @throws {UnknownProjectionError} */
  dropProjection(name: string, options: { dropTables?: boolean } = {}): Promise<void> {
    return dropProjection(this.#executor, this.schema, name, options.dropTables ?? false);
  }

  /** Every projection (trigger and materialized view) with its handlers. */
  listProjections(): Promise<ProjectionInfo[]> {
    return listProjections(this.#executor, this.schema);
  }

  /**
   * The read-model tables of every projection (or of one), each with its rows counted up to
   * `maxRows` (default 100,000); a table that cannot be counted (dropped, or not readable by this
   * role) comes with its problem instead of failing the call.
   * @throws {UnknownProjectionError} for an unknown `projection`.
   * @throws {InvalidArgumentError} for a `maxRows` that is not a positive integer.
   */
  listProjectionTables(options: ListProjectionTablesOptions = {}): Promise<ProjectionTable[]> {
    return listProjectionTables(this.#executor, this.schema, options);
  }

  /**
   * A page of the rows of a projection's table (its first, or `table`), ordered by the primary
   * key, else a unique index, else physically; null when the table no longer exists. Only tables
   * registered with the projection can be read. Rows are as the driver returns them (int8 is a
   * string from `pg`, a number from PGlite).
   * @throws {UnknownProjectionError}
   * @throws {InvalidArgumentError} for a bad limit or offset, or a table the projection does not have.
   * @throws PostgreSQL's own permission error (SQLSTATE 42501) when the role may not read the table.
   * @example
   * const page = await store.readProjectionRows('users', { limit: 25, offset: 50 });
   */
  readProjectionRows(name: string, options: ReadProjectionRowsOptions = {}): Promise<ProjectionRowsPage | null> {
    return readProjectionRows(this.#executor, this.schema, name, options);
  }

  /**
   * Replays a projection atomically through its handlers: all events, one stream, by type or from a position.
   * @throws {UnknownProjectionError}
   * @throws {ReplayRefusedError} e.g. a one-stream replay of a projection without a stream column.
   * @example
   * await store.replay('users', { onProgress: ({ applied, total }) => console.log(applied, total) });
   */
  replay(name: string, options: ReplayOptions = {}): Promise<ReplayResult> {
    return this.#traced(`replay ${String(name)}`, { 'pgevents.projection': String(name) }, () => this.#replay(name, options));
  }

  async #replay(name: string, options: ReplayOptions): Promise<ReplayResult> {
    if (typeof name === 'string' && (await isAsyncProjection(this.#executor, this.schema, name))) {
      const runner = [...this.#readers].find(
        (reader): reader is SubscriptionRunner =>
          reader instanceof SubscriptionRunner && reader.kind === 'projection' && reader.name === name && reader.state !== 'waiting',
      );
      return replayAsyncProjection(this.#executor, this.schema, name, runner, options);
    }
    return replayProjection(this.#executor, this.schema, name, options);
  }

  /**
   * Rebuilds a projection online: its tables are built anew in shadow copies, in batches, while the
   * live tables keep serving reads and its trigger keeps applying appends; events appended
   * meanwhile are caught up, then shadow and live are swapped in one short transaction. Uses the
   * projection's rebuild statement when it declares one. An interrupted rebuild resumes where it
   * stopped (`restart` starts over).
   * @throws {UnknownProjectionError}
   * @throws {RebuildRefusedError} e.g. a materialized view, or a table with dependent views.
   * @throws {RebuildConflictError} when the projection changed since an unfinished rebuild began (restart it).
   * @throws {ProjectionHandlerError} @throws {LiveTableTouchedError} when the rebuild failed; the live tables are untouched.
   * @throws {SwapTimeoutError} when the swap did not get its locks within `swapAttempts` tries.
   * @example
   * await store.rebuild('users', { onProgress: (p) => console.log(p.phase, `${p.percent}%`) });
   */
  rebuild(name: string, options: RebuildOptions = {}): Promise<RebuildResult> {
    return this.#traced(`rebuild ${String(name)}`, { 'pgevents.projection': String(name) }, () =>
      rebuildProjection(this.#executor, this.schema, name, options),
    );
  }

  /** The progress of a projection's current (or last) rebuild, or of every rebuild. */
  rebuildProgress(name?: string): Promise<RebuildProgress[]> {
    return rebuildProgress(this.#executor, this.schema, name);
  }

  /** Abandons an unfinished rebuild (its shadow tables are dropped); returns whether there was one. */
  cancelRebuild(name: string): Promise<boolean> {
    return cancelRebuild(this.#executor, this.schema, name);
  }

  /**
   * Rebuilds a projection into a scratch copy and reports how it differs from the live tables:
   * rows missing, extra or different (by primary key). Both are read at one snapshot; appends go on.
   * @throws {UnknownProjectionError} @throws {RebuildRefusedError} @throws {ProjectionHandlerError}
   * @example
   * const { equal, tables } = await store.verify('users', { ignoreColumns: ['updated_at'] });
   */
  verify(name: string, options: VerifyOptions = {}): Promise<VerifyResult> {
    return verifyProjection(this.#executor, this.schema, name, options);
  }

  /** Defines a materialized view over the events as a projection. @throws {ProjectionDefinitionError} */
  defineMaterializedView(options: DefineMaterializedViewOptions): Promise<void> {
    return defineMaterializedView(this.#executor, this.schema, options);
  }

  /** Refreshes a materialized view projection; concurrently when its unique index allows. Returns whether it did. */
  refreshMaterializedView(name: string): Promise<boolean> {
    return refreshMaterializedView(this.#executor, this.schema, name);
  }

  /**
   * Grants least-privilege access to existing roles, by kind: writers append (API and plain INSERT)
   * and read; readers read events, read models and the status of subscriptions, projections and
   * rebuilds; subscribers run their own subscriptions, async projections and followers; operators
   * reset, skip and resume any subscription. Every kind reads; a role may hold several. None can
   * change history, write read models, or define, replay or rebuild projections (the owner's).
   * @throws {InvalidArgumentError} for no roles, or a name longer than 63 bytes or holding NUL.
   * @throws {ProjectionDefinitionError} for a role that does not exist.
   * @example
   * await store.grant({ writers: ['app'], subscribers: ['app'], operators: ['ops'] });
   */
  grant(options: GrantOptions): Promise<void> {
    return grantRoles(this.#executor, this.schema, options);
  }

  /**
   * Turns tenant mode on: many tenants in this store, kept apart by row-level security
   * (docs/scale-out.md#a-tenant-column-with-row-level-security). Idempotent; PostgreSQL 15+. Then
   * grant tenant roles: `store.grant({ tenants: { acme_app: 'acme' } })`.
   * @throws {TenantModeError} on PostgreSQL 14 or older.
   */
  enableTenants(): Promise<void> {
    return enableTenants(this.#executor, this.schema);
  }

  /**
   * Puts a read-model table the application owns under a tenant policy: a tenant role sees and
   * writes only the rows whose `column` (default `tenant`) is its tenant. Trigger projections
   * write the tenant of the event they apply (`tenant` of the event row their handler gets).
   * @throws {InvalidArgumentError} when the table has no such column.
   */
  enableTenantPolicy(table: string, column = 'tenant'): Promise<void> {
    return enableTenantPolicy(this.#executor, this.schema, table, column);
  }

  #track<R extends SubscriptionRunner | LogFollower>(reader: R): R {
    this.#readers.add(reader);
    void reader.done.then(() => this.#readers.delete(reader));
    return reader;
  }

  /**
   * Starts a named, durable subscription: it catches up from its checkpoint (created at `from` the
   * first time), then follows new events. Only one runner per name at a time, in any process: a
   * second one waits to take over (`ifRunning: 'wait'`, state `waiting`) or is refused (`'fail'`).
   * A handler that throws is retried with backoff; after `retry.maxAttempts` the subscription stops
   * in the `failed` state at that event, until it is resumed, skipped or reset.
   * @throws {InvalidArgumentError} for a bad name, batch size or option.
   * @throws {InvalidCursorError} for a malformed `from`, or a cursor that is not an event of this store.
   * @throws {SubscriptionDefinitionError} when an async projection has this name.
   * @throws {SubscriptionInUseError} with `ifRunning: 'fail'` when another runner has it.
   * @example
   * const mailer = await store.subscribe({
   *   name: 'welcome-mail',
   *   from: 'end',
   *   types: ['user_create'],
   *   handler: async (events) => {
   *     for (const event of events) await sendWelcomeMail(event.body);
   *   },
   * });
   * // … on shutdown: finishes the batch in hand and saves the checkpoint.
   * await mailer.stop();
   */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    const runner = new SubscriptionRunner(this.#executor, this.schema, subscriptionDefinition(this.schema, options), this.#replica);
    await runner.start();
    return this.#track(runner);
  }

  /**
   * Starts an async projection: TypeScript handlers, one per event type, run by a transactional
   * subscription, so that their writes to the read model and the checkpoint commit together.
   * `store.replay(name)` empties its tables and runs it again from the start.
   * @throws {InvalidArgumentError} @throws {ProjectionDefinitionError} for a name taken, or a table missing.
   * @example
   * await store.execScript('create table if not exists user_names (uuid uuid primary key, name text)');
   * const projection = await store.startAsyncProjection({
   *   name: 'user_names',
   *   tables: ['user_names'],
   *   handlers: {
   *     user_create: async (event, tx) => {
   *       await tx.query('insert into user_names values ($1, $2)', [event.stream, event.body.name]);
   *     },
   *   },
   * });
   */
  async startAsyncProjection(options: AsyncProjectionOptions): Promise<Subscription> {
    const runner = new SubscriptionRunner(this.#executor, this.schema, asyncProjectionDefinition(this.schema, options), this.#replica);
    await runner.start();
    return this.#track(runner);
  }

  /**
   * Follows the log from a cursor without a checkpoint (what `pgevents tail` does): gap-safe pages
   * of finished transactions, woken by appends.
   * @throws {InvalidArgumentError} @throws {InvalidCursorError}
   * @example
   * const tail = await store.follow({ from: 'end', handler: (events) => events.forEach((e) => console.log(e.type)) });
   */
  async follow(options: FollowOptions): Promise<Follower> {
    const follower = new LogFollower(this.#executor, this.schema, options, this.#replica);
    await follower.start();
    return this.#track(follower);
  }

  /** Every subscription and async projection with its checkpoint, lag (events and seconds) and state. */
  listSubscriptions(): Promise<SubscriptionInfo[]> {
    return listSubscriptions(this.#executor, this.schema);
  }

  /**
   * Moves a subscription's checkpoint to `'start'`, `'end'` or a cursor, and clears a failure; its
   * runner continues from there. An async projection resets to the start only (a replay).
   * @throws {UnknownSubscriptionError} @throws {InvalidCursorError} @throws {SubscriptionStateError}
   */
  resetSubscription(name: string, options: { to?: string } = {}): Promise<SubscriptionInfo> {
    return resetSubscription(this.#executor, this.schema, name, options.to ?? 'start');
  }

  /**
   * Skips the event a failed subscription stopped at; delivery goes on with the next one.
   * @throws {UnknownSubscriptionError} @throws {SubscriptionStateError} when it has not failed.
   */
  skipSubscriptionEvent(name: string): Promise<SubscriptionInfo> {
    return skipSubscriptionEvent(this.#executor, this.schema, name);
  }

  /**
   * Retries the event a failed subscription stopped at, with a fresh count of attempts.
   * @throws {UnknownSubscriptionError} @throws {SubscriptionStateError} when it has not failed.
   */
  resumeSubscription(name: string): Promise<SubscriptionInfo> {
    return resumeSubscription(this.#executor, this.schema, name);
  }

  /**
   * Declares an event type (or changes its declaration): its version, description, the body fields
   * every append of it must have, a check function, and whether appends of an older version are
   * upcast or refused. A strict store ({@link setStrictEventTypes}) refuses appends of types it has
   * not declared. A type with stored events moves to a new version by {@link defineUpcaster}.
   * @throws {InvalidEventError} for a type that is not a valid event type, a version below 1 or
   * below the current one, or a new version while events of the type are stored.
   * @throws {InvalidArgumentError} for a check function that is not `(jsonb) returns boolean`.
   * @example
   * await store.defineEventType('user_update', { description: 'a user renamed', requiredFields: ['name'] });
   */
  defineEventType(type: string, declaration: EventTypeDeclaration = {}): Promise<DeclaredEventType> {
    return defineEventType(this.#executor, this.schema, type, declaration);
  }

  /**
   * Says how stored bodies of `type` at `fromVersion` become the next shape: `fn` names an SQL
   * function `(jsonb) returns jsonb` (immutable or stable). Without `toType`, into version
   * fromVersion + 1 (an upcaster from the current version moves the type there); with it, into that
   * declared type's current version (a rename). Reads, subscriptions, replays and rebuilds then hand
   * out every event in its current shape; stored rows never change. Needs the store's owner.
   * @throws {InvalidArgumentError} for a gap, a cycle of renames, or a function of the wrong kind.
   * @example
   * await store.defineUpcaster('user_renamed', 1, 'public.user_renamed_v1_to_v2');
   */
  defineUpcaster(type: string, fromVersion: number, fn: string, options: { toType?: string } = {}): Promise<EventUpcaster> {
    return defineUpcaster(this.#executor, this.schema, type, fromVersion, fn, options);
  }

  /**
   * Defines (or redefines) a snapshot the database keeps: per stream, the state an SQL `evolve`
   * function folds over the events of `types`, written in the appending transaction every `every`
   * events and on events of `onTypes`. It is a projection (replayed, rebuilt and checked like any);
   * {@link aggregate} and {@link handle} with `snapshot: name` start from it. Needs the store's owner.
   * On a store that already has events of its types, rebuild it to fill it.
   * @throws {ProjectionDefinitionError} for a bad name, evolve function, types or schedule.
   * @example
   * await store.defineSnapshot({ name: 'account_balance', evolve: 'public.account_evolve', types: ['deposited', 'withdrawn'], every: 100 });
   */
  defineSnapshot(options: DefineSnapshotOptions): Promise<SnapshotInfo> {
    return defineSnapshot(this.#executor, this.schema, options);
  }

  /** Drops a snapshot: its projection, its table and its handler. @throws {UnknownProjectionError} */
  dropSnapshot(name: string): Promise<void> {
    return dropSnapshot(this.#executor, this.schema, name);
  }

  /** The snapshots, by name. */
  listSnapshots(): Promise<SnapshotInfo[]> {
    return listSnapshots(this.#executor, this.schema);
  }

  /** The upcasters, by type and version. */
  listUpcasters(): Promise<EventUpcaster[]> {
    return listUpcasters(this.#executor, this.schema);
  }

  /** Forgets a declared event type (its stored events stay); returns whether it was declared. */
  dropEventType(type: string): Promise<boolean> {
    return dropEventType(this.#executor, this.schema, type);
  }

  /** The declared event types, by name. */
  listDeclaredEventTypes(): Promise<DeclaredEventType[]> {
    return listDeclaredEventTypes(this.#executor, this.schema);
  }

  /**
   * Makes the store strict: an append (or plain INSERT, or import) of an undeclared type is refused
   * with InvalidEventError naming the closest declared type (`update_user` → `user_update`?).
   * `false` accepts every valid type again. Needs the store's owner.
   */
  setStrictEventTypes(strict: boolean): Promise<void> {
    return setStrictEventTypes(this.#executor, this.schema, strict);
  }

  /** Whether the store refuses appends of undeclared event types. */
  strictEventTypes(): Promise<boolean> {
    return strictEventTypes(this.#executor, this.schema);
  }

  /**
   * The store's metrics: the last position, streams, events held back, the age of the oldest
   * writing transaction, each subscription's lag and state, each projection's state, rows and
   * staleness, rebuild progress. The log is never counted whole (a scrape reads the streams table
   * and each subscription's lag, see docs/metrics.md), so that it can be scraped often. Then the
   * appends made through this store object since it opened: events by type and each append's
   * latency (a histogram), which only the appending process can count. `prometheusText(await
   * store.metrics())` renders them for Prometheus; `pgevents ui` serves that at `/metrics`.
   */
  async metrics(): Promise<MetricFamily[]> {
    return [...(await collectMetrics(this.#executor, this.schema)), ...this.#appendStats.families()];
  }

  /** Counts, event types (and those no projection handles) and projections. */
  status(): Promise<StoreStatus> {
    return storeStatus(this.#executor, this.schema);
  }

  /** Every stored event type with its count, last position and the projections that handle it. */
  listEventTypes(): Promise<EventTypeStatus[]> {
    return listEventTypes(this.#executor, this.schema);
  }

  /** Events appended per minute over the last hour (counted over the newest 100,000 events at most). */
  appendsPerMinute(): Promise<AppendsPerMinute> {
    return appendsPerMinute(this.#executor, this.schema);
  }

  /**
   * What the connected role may do besides reading: rebuild, verify, refresh, manage
   * subscriptions, each read from its EXECUTE privilege on the SQL functions behind it. A reader or
   * writer role (`grant(…)`) may do none of them.
   * @throws {SchemaNotInstalledError} when one of those functions is missing (schema not installed, or older than this code).
   */
  permissions(): Promise<StorePermissions> {
    return readPermissions(this.#executor, this.schema);
  }

  /**
   * Runs a function in one transaction; pass `tx` as `client` to append, read or define in it.
   * @example
   * await store.transaction(async (tx) => {
   *   await tx.query('insert into orders (id) values ($1)', [orderId]);
   *   await store.append(orderId, [{ type: 'order_placed', body: {} }], { client: tx });
   * });
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.#executor.transaction((tx) =>
      fn({ query: async (sql, params) => ({ rows: await tx.query(sql, params ?? []) }) }),
    );
  }

  /**
   * Runs an SQL script (several statements, no parameters) with the store's schema on the
   * search_path after the connection's own, so `insert into events …` works as in psql.
   */
  async execScript(sql: string): Promise<void> {
    await this.#executor.session(async (session) => {
      const [row] = await session.query<{ search_path: string }>(`select current_setting('search_path') as search_path`);
      const original = row?.search_path ?? '"$user", public';
      await session.query(`select set_config('search_path', $1, false)`, [`${original}, ${this.schema}`]);
      try {
        await session.script(sql);
      } finally {
        await session.query(`select set_config('search_path', $1, false)`, [original]);
      }
    });
  }

  /** Runs one parameterised statement on the store's connection. */
  async query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    return this.#executor.query<R>(sql, params);
  }

  /**
   * Stops this store's subscriptions and followers (each finishes its batch and saves its
   * checkpoint), then closes the pool or the embedded database (not one the caller handed in).
   */
  async close(): Promise<void> {
    await Promise.all([...this.#readers].map((reader) => reader.stop()));
    await this.#replica?.close();
    await this.#executor.close();
  }
}

/**
 * The executor `options` name (a pool on the server URL, or the embedded data dir), with errors
 * translated for `schema`. Used by openEventStore and by the tools that work on many stores of
 * one database (src/tenants).
 */
export async function createExecutor(options: Omit<OpenEventStoreOptions, 'schema' | 'migrate'>, schema: string): Promise<Executor> {
  const applicationName: unknown = options.applicationName;
  if (applicationName !== undefined && (typeof applicationName !== 'string' || !/^[\x20-\x7e]{1,63}$/.test(applicationName))) {
    throw new InvalidArgumentError('applicationName', `Invalid applicationName: ${JSON.stringify(String(applicationName)).slice(0, 80)}`, {
      hint: 'Use 1 to 63 printable ASCII characters (PostgreSQL truncates longer names and replaces other characters).',
    });
  }
  const url = options.url ?? (options.pglite || options.dataDir ? undefined : process.env.DATABASE_URL);
  return (
    options.pool || url
      ? createPgExecutor({
          ...(options.pool ? { pool: options.pool } : { url }),
          schema,
          max: options.poolSize ?? 10,
          ...(applicationName === undefined ? {} : { applicationName }),
        })
      : await createPgliteExecutor({
          schema,
          ...(options.pglite ? { pglite: options.pglite } : { dataDir: options.dataDir ?? './.pgevents' }),
        }));
}

/**
 * Opens an event store: a PostgreSQL server when `url`, `pool` or `DATABASE_URL` is given,
 * otherwise the embedded engine (PGlite) in `dataDir` (default `./.pgevents`).
 * @throws {DataDirInUseError} when another process has the embedded database open.
 * @example
 * const store = await openEventStore({ migrate: true });
 * await store.append(crypto.randomUUID(), [{ type: 'user_create', body: { name: 'Ada' } }]);
 * await store.close();
 */
export async function openEventStore(options: OpenEventStoreOptions = {}): Promise<EventStore> {
  const schema = options.schema ?? 'pgevents';
  if (!SCHEMA_NAME.test(schema)) {
    throw new InvalidArgumentError('schema', `Invalid schema name: ${JSON.stringify(schema)}`, {
      hint: 'Use a plain lowercase identifier: a letter or _, then letters, digits or _.',
    });
  }
  const url = options.url ?? (options.pglite || options.dataDir ? undefined : process.env.DATABASE_URL);
  if ((options.replicaPool || options.replicaUrl) && !(options.pool || url)) {
    throw new InvalidArgumentError('replicaUrl', 'A read replica needs a PostgreSQL server: the embedded engine has no standby', {
      hint: 'Give url (or DATABASE_URL) with replicaUrl, or leave replicaUrl out.',
    });
  }
  const executor = await createExecutor(options, schema);
  const replicaUrl = options.replicaPool
    ? undefined
    : options.replicaUrl || (options.url === undefined && !options.pool && url ? process.env.PGEVENTS_REPLICA_URL || undefined : undefined);
  const replica =
    options.replicaPool || replicaUrl
      ? createPgExecutor({
          ...(options.replicaPool ? { pool: options.replicaPool } : { url: replicaUrl }),
          schema,
          max: options.poolSize ?? 10,
          ...(options.applicationName === undefined ? {} : { applicationName: options.applicationName }),
        })
      : undefined;
  const store = new EventStore(executor, schema, { traceContext: options.traceContext !== false }, replica);
  const partitions = options.partitions === undefined ? undefined : assertPartitions(options.partitions);
  try {
    if (options.migrate) await store.migrate();
    if (partitions !== undefined) {
      await settleEventLayout(store, partitions, { archivePartition: options.archivePartition ?? false });
    } else if (options.archivePartition !== undefined) {
      throw new InvalidArgumentError('archivePartition', 'archivePartition is a layout of the events table: give it with partitions (0 for no hash partitions)');
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
