import pg from 'pg';
import type { Executor, Queryable, Row, Scriptable } from './executor.js';
import { translateError } from './translate-error.js';

export interface PgExecutorOptions {
  /** A connection string, e.g. postgres://user@host:5432/db. */
  url?: string;
  /** Or a pool the caller owns (it is not closed by the store). */
  pool?: pg.Pool;
  schema: string;
  /** Pool size when pgevents creates the pool, default 10. */
  max?: number;
}

function scriptableOf(client: pg.Pool | pg.PoolClient, schema: string): Scriptable {
  return {
    async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
      try {
        const result = await client.query(sql, params as unknown[]);
        return result.rows as R[];
      } catch (error) {
        throw translateError(error, schema);
      }
    },
    async script(sql: string) {
      try {
        await client.query(sql);
      } catch (error) {
        throw translateError(error, schema);
      }
    },
  };
}

async function inTransaction<T>(client: pg.PoolClient, schema: string, fn: (tx: Scriptable) => Promise<T>): Promise<T> {
  await client.query('begin');
  try {
    const result = await fn(scriptableOf(client, schema));
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  }
}

// A script that opens a transaction block of its own (`begin; …; commit;`) and fails inside it
// leaves the connection in that failed block, where every later statement fails: end the block, so
// that the script's own error is the one reported and the connection goes back to the pool clean.
// (pg reports the error before the server says whether a block is open, so roll back regardless;
// without an open block that is a harmless warning.)
async function scriptInSession(client: pg.PoolClient, schema: string, sql: string): Promise<void> {
  const wasIdle = client.getTransactionStatus() === 'I';
  try {
    await scriptableOf(client, schema).script(sql);
  } catch (error) {
    if (wasIdle) await client.query('rollback').catch(() => undefined);
    throw error;
  }
}

/** The server engine: a node-postgres pool. */
export function createPgExecutor(options: PgExecutorOptions): Executor & { readonly pool: pg.Pool } {
  const ownsPool = !options.pool;
  const pool = options.pool ?? new pg.Pool({ connectionString: options.url, max: options.max ?? 10 });
  // An idle pooled client that loses its connection emits 'error'; without a listener that kills the process.
  if (ownsPool) pool.on('error', () => undefined);
  const { schema } = options;
  const base = scriptableOf(pool, schema);

  async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    try {
      return await fn(client);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  return {
    engine: 'server',
    pool,
    query: base.query,
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => withClient((client) => inTransaction(client, schema, fn)),
    session: (fn) =>
      withClient((client) =>
        fn({
          ...scriptableOf(client, schema),
          script: (sql) => scriptInSession(client, schema, sql),
          transaction: (inner) => inTransaction(client, schema, inner),
        }),
      ),
    async close() {
      if (ownsPool) await pool.end();
    },
  };
}
