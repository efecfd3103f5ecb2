/** A JSON object, as stored in an event's body or metadata. */
export type JsonObject = { [key: string]: unknown };

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
}

/**
 * What an append expects the stream's version to be:
 * `'any'` (no check), `'no_stream'` (the stream has no events), `'stream_exists'`, or the exact version.
 */
export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

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
}

export interface MigrateResult {
  schema: string;
  /** Names of the migrations applied by this call. */
  applied: string[];
  /** The schema's migration number after this call. */
  version: number;
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
  projections: ProjectionInfo[];
}
