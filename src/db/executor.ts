/** A row as returned by either driver, before mapping. */
export type Row = Record<string, unknown>;

/** Runs one parameterised statement. */
export interface Queryable {
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

/** Runs statements and scripts of several statements (without parameters). */
export interface Scriptable extends Queryable {
  script(sql: string): Promise<void>;
}

/** One dedicated connection (the whole PGlite instance on the embedded engine). */
export interface Session extends Scriptable {
  transaction<T>(fn: (tx: Scriptable) => Promise<T>): Promise<T>;
}

export type Engine = 'embedded' | 'server';

/**
 * The one interface the store uses to reach PostgreSQL. The files in src/db are the only ones that
 * import a driver.
 */
export interface Executor extends Queryable {
  readonly engine: Engine;
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  session<T>(fn: (session: Session) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
