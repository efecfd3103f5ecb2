/** A row as returned by either driver, before mapping. */
export type Row = Record<string, unknown>;

/** How to run one statement. */
export interface QueryOptions {
  /**
   * Prepare the statement once per server connection under this name and reuse it (saves the
   * server parsing and planning it on every call). The name must always come with the same text.
   * Ignored on the embedded engine and on a caller's own client.
   */
  readonly prepareAs?: string;
}

/** Runs one parameterised statement. */
export interface Queryable {
  query<R extends Row = Row>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<R[]>;
}

/**
 * An open transaction of the store's own: statements, scripts, and bulk loads with COPY. Used only inside
 * the callback it was handed to.
 */
export interface Transaction extends Scriptable {
  /**
   * Loads COPY text-format data (tab-separated columns, one row a line, `\N` for null) into
   * `target`, a table and its column list, e.g. `pg_temp.load (a, b)`. `target` is SQL: it must
   * never come from input. The data is streamed chunk by chunk, never held whole; when `chunks`
   * throws, the COPY is cancelled and the error is rethrown.
   */
  copyFrom(target: string, chunks: AsyncIterable<string>): Promise<void>;
}

/** Runs statements and scripts of several statements (without parameters). */
export interface Scriptable extends Queryable {
  script(sql: string): Promise<void>;
}

/** One dedicated connection (the whole PGlite instance on the embedded engine). */
export interface Session extends Scriptable {
  transaction<T>(fn: (tx: Scriptable) => Promise<T>): Promise<T>;
}

/**
 * A connection of its own that stays open until closed: one socket on the server; on the embedded
 * engine, the one PGlite connection, shared. Subscriptions hold one to LISTEN and to keep their
 * session-level lock.
 */
export interface DedicatedSession extends Session {
  /** The backend pid of the connection. */
  readonly pid: number;
  /** Calls `onNotify` for each NOTIFY on `channel` (a plain lowercase identifier). */
  listen(channel: string, onNotify: (payload: string) => void): Promise<void>;
  /**
   * Takes the session-level advisory lock (classId, objId) when no other session holds it; returns
   * whether it did. Held until the session closes or its connection is lost.
   */
  tryLock(classId: number, objId: number): Promise<boolean>;
  /** Resolves when the connection is lost (never on the embedded engine); the session is then unusable. */
  readonly lost: Promise<Error>;
  /** Releases the session's locks and listeners and closes its connection. */
  close(): Promise<void>;
}

export type Engine = 'embedded' | 'server';

/**
 * The one interface the store uses to reach PostgreSQL. The files in src/db are the only ones that
 * import a driver (test/unit/driver-seam.test.ts checks it).
 */
export interface Executor extends Queryable {
  readonly engine: Engine;
  /**
   * Runs `fn` in one transaction, on a pooled connection of its own (server) or on the one
   * connection (embedded): committed when `fn` returns, rolled back when it throws.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  session<T>(fn: (session: Session) => Promise<T>): Promise<T>;
  /** Opens a dedicated session, for LISTEN and session-level locks. */
  openSession(): Promise<DedicatedSession>;
  close(): Promise<void>;
}
