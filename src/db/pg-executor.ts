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
        fn({ ...scriptableOf(client, schema), transaction: (inner) => inTransaction(client, schema, inner) }),
      ),
    async close() {
      if (ownsPool) await pool.end();
    },
  };
}
