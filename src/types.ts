/** A JSON object, as stored in an event's body or metadata. */
export type JsonObject = { [key: string]: unknown };
/** Any JSON value: what a snapshot's state (jsonb) reads back as. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** An event as it is handed to append. */
export interface NewEvent<Body extends JsonObject = JsonObject, Metadata extends JsonObject = JsonObject> {
  /** The event type, e.g. `user_create`: a letter or _, then letters, digits, or `_ . : / -`; at most 200 characters. */
  type: string;
  /** The event data: a JSON object of at most 1 MiB. */
  body: Body;
  /** Correlation / causation ids and free fields: a JSON object of at most 64 KiB. */
  metadata?: Metadata;
  /**
   * The event's unique id (a uuid). Give one to make retries idempotent: re-appending a batch whose
   * ids are all stored in this stream stores nothing and returns the stored positions.
   * When left out, append generates one.
   */
  id?: string;
  /**
   * The version of the type's shape that the body has (see `defineEventType`). When left out, the
   * type's current version. An older one is upcast before it is stored, or refused, as the type's
   * declaration says (`oldVersions`).
   */
  typeVersion?: number;
}

/** An event type the store declares (`define_event_type`). */
export interface DeclaredEventType {
  type: string;
  /** The current version of its shape, from 1. */
  version: number;
  description: string | null;
  /** Top-level body fields every appended event of the type must have; null: none. */
  requiredFields: string[] | null;
  /** The function (jsonb) returns boolean every appended body must pass; null: none. */
  checkFunction: string | null;
  /** What an append of an older version gets: upcast to the current one, or refused. */
  oldVersions: 'upcast' | 'refuse';
  declaredAt: Date;
}

/** A snapshot the database keeps per stream (`define_snapshot`). */
export interface DefineSnapshotOptions {
  /** Its name (also its projection's and its table's): a lowercase letter, then lowercase letters, digits or _. */
  name: string;
  /** An SQL function `(state jsonb, event <schema>.events) returns jsonb` (name as SQL resolves it). */
  evolve: string;
  /** The event types the state is folded from. */
  types: string[];
  /** The state of a stream before its first event (default `{}`). */
  initial?: JsonValue;
  /** Write the row once the stream is this many versions past it (default 1: every event; null: only on `onTypes`). */
  every?: number | null;
  /** Also write the row on every event of these types. */
  onTypes?: string[] | null;
  /** The version of evolve: another one marks the snapshot as needing a rebuild (default 1). */
  version?: number;
}

/** A snapshot as the store lists it. */
export interface SnapshotInfo {
  name: string;
  /** The evolve function, schema-qualified, with its argument types. */
  evolve: string;
  types: string[];
  initial: JsonValue;
  every: number | null;
  onTypes: string[] | null;
  /** Its table: one row per stream (stream, version, state, updated_at). */
  table: string;
  definedAt: Date;
}

/** How stored bodies of one version of a type become the next shape (`define_upcaster`). */
export interface EventUpcaster {
  type: string;
  fromVersion: number;
  /** The function (jsonb) returns jsonb, schema-qualified. */
  function: string;
  toType: string;
  toVersion: number;
  /** Where the chain from (type, fromVersion) ends: the shape reads hand out. */
  finalType: string;
  finalVersion: number;
  definedAt: Date;
}

/** An event as stored in the log. */
export interface StoredEvent<Body extends JsonObject = JsonObject, Metadata extends JsonObject = JsonObject> {
  /** Store-wide position (the `id` column): unique and increasing in insert order, with gaps. */
  position: number;
  /** The stream: the uuid of the entity the event belongs to (the `uuid` column). */
  stream: string;
  /** Place of the event in its stream: 1, 2, 3, … without gaps. */
  version: number;
  type: string;
  body: Body;
  metadata: Metadata;
  /** The event's unique id (the `event_id` column). */
  eventId: string;
  insertedAt: Date;
  /** Id of the transaction that wrote the event (xid8, as a decimal string). */
  transactionId: string;
  /**
   * The version of the type's shape the body has: reads hand out every event in its current shape
   * (upcast through `defineUpcaster` chains; the stored row never changes), so this is the type's
   * current version.
   */
  typeVersion: number;
}

/**
 * What an append expects the stream's version to be:
 * `'any'` (no check), `'no_stream'` (the stream has no events), `'stream_exists'`, or the exact version
 * (a non-negative integer; `0` is the same as `'no_stream'`).
 */
export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

/**
 * Whether a value is an {@link ExpectedVersion}: one of the three names, or a non-negative safe
 * integer. TypeScript's one check of an expected version (SQL's append_events checks its text form).
 */
export function isExpectedVersion(value: unknown): value is ExpectedVersion {
  return (
    value === 'any' ||
    value === 'no_stream' ||
    value === 'stream_exists' ||
    (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)
  );
}

/** Anything that runs a parameterised query and returns `{ rows }`: a `pg` Client/PoolClient or a PGlite (transaction). */
export interface SqlClient {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface AppendOptions {
  /** Default `'any'`. */
  expectedVersion?: ExpectedVersion;
  /** Run the append on this client, inside the caller's open transaction. */
  client?: SqlClient;
}

export interface AppendedEvent {
  eventId: string;
  version: number;
  position: number;
}

export interface AppendResult {
  /** The stream's version after the append. */
  nextVersion: number;
  events: AppendedEvent[];
}

export interface ReadStreamOptions {
  /** First version to read, default 1. */
  fromVersion?: number;
  /** At most this many events, default 1000. */
  limit?: number;
  /** Read an archived stream too (else it is refused with StreamArchivedError), default false. */
  includeArchived?: boolean;
  client?: SqlClient;
}

export interface ReadAllOptions {
  /** Read events after this cursor (from a previous `readAll`), default: from the start. */
  after?: string;
  /** At most this many events, default 1000. */
  limit?: number;
  /** Only events of these types. */
  types?: string[];
  client?: SqlClient;
}

export interface ReadAllResult {
  events: StoredEvent[];
  /** Cursor after the last event returned (or the `after` cursor when none were): pass it as `after` to continue. */
  cursor: string;
}

export interface DefineProjectionOptions {
  /** 1–40 characters: a lowercase letter, then lowercase letters, digits or `_`. */
  name: string;
  /** Event type → plpgsql function taking `(uuid, jsonb)` or the whole event row; it must pin search_path. */
  handlers: Record<string, string>;
  /** Read-model tables the projection owns: emptied by a full replay. */
  tables?: string[];
  /** Column of those tables that holds the stream uuid; needed to replay one stream. */
  streamColumn?: string;
  /** Version of the projection's code, default 1. */
  version?: number;
  /**
   * A set-based statement that fills the projection's empty tables from the events in one go (e.g.
   * `insert into users … select distinct on (uuid) … from pgevents.events …`), used by rebuilds and
   * verify instead of the handlers: the fast path. Its unqualified table names resolve to the tables
   * being built. See docs/rebuild.md.
   */
  rebuildSql?: string;
  client?: SqlClient;
}

export interface DefineMaterializedViewOptions {
  name: string;
  /** The SELECT over the events (e.g. `select distinct on (uuid) … from pgevents.events …`). */
  query: string;
  /** Columns of a unique index, so that refreshes run concurrently. */
  uniqueColumns?: string[];
  /** Schema of the view, default the connection's current schema. */
  schema?: string;
}

export interface ProjectionInfo {
  name: string;
  kind: 'trigger' | 'materialized_view';
  version: number;
  tables: string[];
  streamColumn: string | null;
  /** Event type → handler function signature (trigger projections). */
  handlers: Record<string, string>;
  definedAt: Date;
  lastReplayedAt: Date | null;
  lastRefreshedAt: Date | null;
  /** For materialized views: the store's last position when it was last refreshed. */
  refreshedPosition: number | null;
  /** Version of the code the tables were last built with (full replay or rebuild); null: never built. */
  builtVersion: number | null;
  /** The projection's rebuild statement (the fast path), if it declares one. */
  rebuildSql: string | null;
  lastRebuiltAt: Date | null;
}

export interface ReplayOptions {
  /** Replay only this stream: its rows are deleted (by the projection's stream column) and rebuilt. */
  stream?: string;
  /** Re-apply only events of these types (nothing is cleared). */
  types?: string[];
  /** Re-apply only events at or after this position (nothing is cleared). */
  fromPosition?: number;
  /** Events applied per round trip, default 5000. */
  batchSize?: number;
  /** Called after each batch. */
  onProgress?: (progress: ReplayProgress) => void;
}

export interface ReplayProgress {
  applied: number;
  total: number;
}

export interface ReplayResult {
  projection: string;
  applied: number;
  /**
   * Async projections run by another process: their tables and checkpoint were reset, and that
   * process applies the events.
   */
  deferred?: boolean;
}

export interface MigrateResult {
  schema: string;
  /** Names of the migrations applied by this call. */
  applied: string[];
  /** The schema's migration number after this call. */
  version: number;
  /**
   * Present when this call applied the definitions of the store's functions, views and triggers
   * (sql/<concept>/*.sql): their combined checksum. They are applied with every migration, and
   * alone when they changed since they were applied last.
   */
  definitions?: string;
}

export interface EventTypeStatus {
  type: string;
  events: number;
  lastPosition: number;
  /** Projections with a handler for this type; empty means no projection handles it. */
  handledBy: string[];
}

export interface StoreStatus {
  engine: 'embedded' | 'server';
  schema: string;
  schemaVersion: number;
  events: number;
  streams: number;
  lastPosition: number | null;
  eventTypes: EventTypeStatus[];
  /** Stored event types that no projection handles. */
  unhandledTypes: string[];
  /** Whether the store refuses appends of undeclared event types (false before pgevents 0010). */
  strictEventTypes: boolean;
  /** Stored event types the store does not declare, when it declares any (events stored before it did, or before it was strict). */
  undeclaredTypes: string[];
  /** Every projection with its health: rows, last event applied, staleness and state. */
  projections: ProjectionStatus[];
  /** Durable subscriptions and async projections, with their lag (empty for a role that may not read them). */
  subscriptions: SubscriptionInfo[];
}

/**
 * Where a subscription or a follow starts: `'start'` (the first event), `'end'` (after the last
 * event that is safe to read now), or a cursor handed out by this store.
 */
export type SubscriptionStart = 'start' | 'end' | (string & {});

/** How a failing handler is retried: with exponential backoff, then the subscription fails. */
export interface RetryOptions {
  /** Deliveries of one event before the subscription stops in the `failed` state, default 5. */
  maxAttempts?: number;
  /** Wait before the first retry, default 200 ms; it doubles after each failure. */
  initialDelayMs?: number;
  /** Longest wait between retries, default 30 000 ms. */
  maxDelayMs?: number;
}

/** What a subscription runner is doing, as seen by the process that runs it. */
export type SubscriptionRunState =
  | 'starting'
  /** Another process runs this subscription; this one takes over when it stops. */
  | 'waiting'
  | 'catching-up'
  /** Caught up: waiting for new events. */
  | 'live'
  /** The handler failed; waiting to deliver the event again. */
  | 'retrying'
  /** The handler failed too often: delivery stopped at one event (see `failure`). */
  | 'failed'
  /** The connection was lost; reconnecting. */
  | 'reconnecting'
  | 'stopping'
  | 'stopped';

interface FollowOptionsBase {
  /** Default `'start'`. For a subscription, only where it starts when it is first created. */
  from?: SubscriptionStart;
  /** Only events of these types. */
  types?: string[];
  /** Events per batch, from 1 to 10 000; default 100. */
  batchSize?: number;
  /**
   * Poll at least this often even without a notification, default 5000 ms. While events are held
   * back by an open transaction, it polls faster (from 50 ms).
   */
  pollIntervalMs?: number;
  /** LISTEN for appends (default true); false polls only, and appends need not NOTIFY. */
  listen?: boolean;
  /** Called with every error the runner recovers from: a failed handler, a lost connection. */
  onError?: (error: unknown) => void;
}

/** An ephemeral reader of the live log, without a checkpoint (what `pgevents tail` uses). */
export interface FollowOptions extends FollowOptionsBase {
  handler: (events: StoredEvent[]) => Promise<void> | void;
}

/** A running follow; see {@link FollowOptions}. */
export interface Follower {
  readonly state: SubscriptionRunState;
  /** Cursor after the last event handed to the handler. */
  readonly cursor: string;
  /**
   * Resolves once every event committed when it is called has been handled, including events
   * still held back by an older open transaction (it waits for them).
   */
  caughtUp(): Promise<void>;
  /** Finishes the batch in hand, then stops. */
  stop(): Promise<void>;
}

interface SubscribeOptionsBase extends FollowOptionsBase {
  /** 1–63 characters: a lowercase letter, then lowercase letters, digits, `_` or `-`. */
  name: string;
  retry?: RetryOptions;
  /** When another process runs this subscription: `'wait'` (default) to take over when it stops, or `'fail'`. */
  ifRunning?: 'wait' | 'fail';
  /** How often a waiting runner tries to take over, default 1000 ms. */
  takeoverIntervalMs?: number;
}

/**
 * At-least-once: the handler runs outside any transaction and the checkpoint is saved after it
 * returns; a crash in between delivers the batch again.
 */
export interface AtLeastOnceSubscribeOptions extends SubscribeOptionsBase {
  transactional?: false;
  handler: (events: StoredEvent[]) => Promise<void> | void;
}

/**
 * Exactly-once effects in the database: the handler is given the transaction that also saves the
 * checkpoint, so its writes and the checkpoint commit (or roll back) together. Use only `tx` inside it.
 */
export interface TransactionalSubscribeOptions extends SubscribeOptionsBase {
  transactional: true;
  handler: (events: StoredEvent[], tx: SqlClient) => Promise<void> | void;
}

export type SubscribeOptions = AtLeastOnceSubscribeOptions | TransactionalSubscribeOptions;

/** A running subscription (or async projection) in this process. */
export interface Subscription extends Follower {
  readonly name: string;
  /** The checkpoint: cursor after the last event handled. */
  readonly cursor: string;
  /** Why delivery stopped, while the state is `failed` (a SubscriptionFailedError). */
  readonly failure: Error | null;
  /** Retries the event a failed subscription stopped at. */
  resume(): Promise<void>;
  /** Skips the event a failed subscription stopped at. */
  skip(): Promise<void>;
}

/** An event handler of an async projection; it writes its read model with `tx`. */
export type AsyncProjectionHandler = (event: StoredEvent, tx: SqlClient) => Promise<void> | void;

export interface AsyncProjectionOptions {
  /** 1–40 characters: a lowercase letter, then lowercase letters, digits or `_`. */
  name: string;
  /** Event type → handler. The projection receives only these types. */
  handlers: Record<string, AsyncProjectionHandler>;
  /** Read-model tables the projection owns: emptied by a replay. */
  tables?: string[];
  batchSize?: number;
  pollIntervalMs?: number;
  listen?: boolean;
  retry?: RetryOptions;
  ifRunning?: 'wait' | 'fail';
  takeoverIntervalMs?: number;
  onError?: (error: unknown) => void;
}

/** A durable subscription or async projection as recorded in the database. */
export interface SubscriptionInfo {
  name: string;
  kind: 'subscription' | 'projection';
  /** `running` only while a runner holds it (one that died shows as `stopped`). */
  state: 'running' | 'stopped' | 'failed';
  /** Cursor after the last event handled. */
  checkpoint: string;
  /** Events after the checkpoint still to handle (of its types). */
  lagEvents: number;
  /** How long the oldest of them has waited, in seconds (0 when none). */
  lagSeconds: number;
  /** Of those, events committed but held back by an older transaction that is still open. */
  heldBackEvents: number;
  /** Failed deliveries of the event at `failedEvent`, in a row. */
  attempts: number;
  lastError: string | null;
  /** The event whose delivery failed (while retrying, or after it failed). */
  failedEvent: { position: number; cursor: string; type: string | null; stream: string | null; version: number | null } | null;
  types: string[] | null;
  tables: string[];
  /** host:pid of the runner, while one runs it. */
  runner: string | null;
  /**
   * The role that created it, which alone (with operators and the store's owner) may run and
   * advance it; null for one created before roles had kinds (the owner's and operators').
   */
  owner: string | null;
  createdAt: Date;
  updatedAt: Date;
  checkpointAt: Date | null;
  resetAt: Date | null;
}

/**
 * Phase of an online rebuild: `building` (round 0: the events stored when it began), `catching_up`
 * (events appended meanwhile), `swapping` (caught up: the shadow tables go live next), `done`, or
 * `failed` (a handler raised; the live tables are untouched and the rebuild can be resumed).
 */
export type RebuildPhase = 'building' | 'catching_up' | 'swapping' | 'done' | 'failed';

/** The error a failed rebuild recorded. */
export interface RebuildError {
  sqlState: string;
  message: string;
  detail: string | null;
  hint: string | null;
}

/** The progress of a rebuild, as the `rebuild_progress` view has it. */
export interface RebuildProgress {
  projection: string;
  phase: RebuildPhase;
  /** `handlers` (event by event) or `statement` (the projection's rebuild statement, the fast path). */
  path: 'handlers' | 'statement';
  /** 0 while building; each catch-up round adds one. */
  round: number;
  /** Events applied to the shadow tables so far. */
  applied: number;
  /** Events to apply as known so far: it grows while appends arrive. */
  total: number;
  /** 0–100. */
  percent: number;
  /** Events per second while the rebuild was working (null before the first batch). */
  eventsPerSecond: number | null;
  /** Seconds left at that rate (null when unknown or finished). */
  etaSeconds: number | null;
  /** The projection version being built. */
  version: number;
  error: RebuildError | null;
  startedAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

export interface RebuildOptions {
  /** Start over even when an unfinished rebuild could be resumed. Default false (resume). */
  restart?: boolean;
  /** Events per batch (one transaction each), default 5000. */
  batchSize?: number;
  /** How long the swap waits for each lock before it gives up, catches up and tries again; default 500 ms. */
  lockTimeoutMs?: number;
  /** Swap attempts before the rebuild gives up with a SwapTimeoutError, default 10. */
  swapAttempts?: number;
  /** Called after the start, each batch and the swap. */
  onProgress?: (progress: RebuildProgress) => void;
}

export interface RebuildResult {
  projection: string;
  path: 'handlers' | 'statement';
  /** Events applied by the whole rebuild (also by earlier, interrupted runs of it). */
  applied: number;
  /** Catch-up rounds. */
  rounds: number;
  /** Wall time of this call. */
  seconds: number;
  /** Events per second while the rebuild was working. */
  eventsPerSecond: number | null;
  /** Swap attempts this call made (more than 1 when locks were not granted in time). */
  swapAttempts: number;
}

export interface VerifyOptions {
  /** Columns left out of the comparison, e.g. ones a handler fills with now(). */
  ignoreColumns?: string[];
  /** At most this many example rows of each kind of difference per table, default 10. */
  sampleSize?: number;
}

export interface VerifyTableResult {
  table: string;
  liveRows: number;
  rebuiltRows: number;
  /** Rows a rebuild would have that the live table lacks. */
  missing: number;
  /** Rows of the live table a rebuild would not have. */
  extra: number;
  /** Rows whose key is on both sides with other values (tables with a primary key). */
  different: number;
  /** The columns that pair rows (the primary key), or null. */
  key: string[] | null;
  samples: {
    missing: Record<string, unknown>[];
    extra: Record<string, unknown>[];
    different: { live: Record<string, unknown>; rebuilt: Record<string, unknown> }[];
  };
}

export interface VerifyResult {
  projection: string;
  /** True when every table equals what a rebuild would produce. */
  equal: boolean;
  ignoredColumns: string[];
  tables: VerifyTableResult[];
}

/**
 * `live`; `rebuilding` (an online rebuild runs); `needs rebuild` (the version is newer than the code
 * the tables were built with, or the projection was defined over stored events and never built);
 * `failed` (its last rebuild failed; the live tables are still served); `stale` (a materialized view
 * with events committed since its last refresh); `unknown` (the role may not read the health: only
 * the store's owner can).
 */
export type ProjectionState = 'live' | 'rebuilding' | 'needs rebuild' | 'failed' | 'stale' | 'unknown';

/** How a projection is doing (the `projection_health` view). */
export interface ProjectionHealth {
  /** Event types it handles (trigger projections). */
  handledTypes: string[];
  /** Rows in its tables: exact below a million, the planner's estimate above; null when not readable. */
  rows: number | null;
  /** Last event applied: the last position of a handled type, or the position a view was refreshed at. */
  lastPosition: number | null;
  /** Materialized views: events committed since the last refresh. */
  staleEvents: number | null;
  state: ProjectionState;
  /** The state in a phrase: `rebuilding 42%`, `stale (3 events)`, … */
  stateText: string;
  rebuildPhase: RebuildPhase | null;
  rebuildPercent: number | null;
}

/** A projection as `status()` reports it: its definition and its health. */
export interface ProjectionStatus extends ProjectionInfo, ProjectionHealth {}
