import { PGlite } from '@electric-sql/pglite';
import type { Executor, Queryable, Row, Scriptable, Session } from './executor.js';
import { lockDataDir } from './data-dir-lock.js';
import { translateError } from './translate-error.js';

export interface PgliteExecutorOptions {
  /** Directory of the embedded database; undefined with `pglite` given. */
  dataDir?: string;
  /** Or an instance the caller owns (it is not closed by the store). */
  pglite?: PGlite;
  schema: string;
}

interface PgliteLike {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
  exec(sql: string): Promise<unknown>;
}

// A script that opens a transaction block of its own (`begin; …; commit;`) and fails inside it
// leaves the one connection in that failed block, where every later statement fails: end the
// block, so that the script's own error is the one reported and the store stays usable.
async function scriptInSession(db: PGlite, scriptable: Scriptable, sql: string): Promise<void> {
  const wasIdle = !db.isInTransaction();
  try {
    await scriptable.script(sql);
  } catch (error) {
    if (wasIdle && db.isInTransaction()) await db.exec('rollback').catch(() => undefined);
    throw error;
  }
}

function scriptableOf(db: PgliteLike, schema: string): Scriptable {
  return {
    async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
      try {
        const result = await db.query<R>(sql, [...params]);
        return result.rows;
      } catch (error) {
        throw translateError(error, schema);
      }
    },
    async script(sql: string) {
      try {
        await db.exec(sql);
      } catch (error) {
        throw translateError(error, schema);
      }
    },
  };
}

/** The embedded engine: PGlite (PostgreSQL in WebAssembly), in process, one connection. */
export async function createPgliteExecutor(options: PgliteExecutorOptions): Promise<Executor & { readonly pglite: PGlite }> {
  const { schema } = options;
  const release = options.pglite ? () => undefined : lockDataDir(options.dataDir ?? './.pgevents');
  let db: PGlite;
  try {
    db = options.pglite ?? (await PGlite.create(options.dataDir ?? './.pgevents'));
  } catch (error) {
    release();
    throw error;
  }
  const base = scriptableOf(db, schema);
  const transaction = <T>(fn: (tx: Scriptable) => Promise<T>): Promise<T> =>
    db.transaction((tx) => fn(scriptableOf(tx, schema)));
  const session: Session = { ...base, script: (sql) => scriptInSession(db, base, sql), transaction };
  return {
    engine: 'embedded',
    pglite: db,
    query: base.query,
    transaction,
    session: (fn) => fn(session),
    async close() {
      try {
        if (!options.pglite) await db.close();
      } finally {
        release();
      }
    },
  };
}
