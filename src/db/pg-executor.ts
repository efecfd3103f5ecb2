import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';
import type { DedicatedSession, Executor, QueryOptions, Row, Scriptable, Transaction } from './executor.js';
import { translateError } from './translate-error.js';

/** A node-postgres pool, as a caller may hand one to the store. */
export type PgPool = pg.Pool;

export interface PgExecutorOptions {
  /** A connection string, e.g. postgres://user@host:5432/db. */
  url?: string;
  /** Or a pool the caller owns (it is not closed by the store). */
  pool?: pg.Pool;
  schema: string;
  /** Pool size when pgevents creates the pool, default 10. */
  max?: number;
  /**
   * application_name of the connections pgevents opens (its pool and dedicated sessions); without
   * it, `pgevents` unless the url names one. A caller's pool keeps its own.
   */
  applicationName?: string;
}

/** How the connections pgevents opens name themselves in pg_stat_activity. */
function applicationNameConfig(applicationName: string | undefined): pg.ClientConfig {
  // An application_name in the url wins over fallback_application_name, and over application_name.
  return applicationName === undefined ? { fallback_application_name: 'pgevents' } : { application_name: applicationName };
}

function scriptableOf(client: pg.Pool | pg.ClientBase, schema: string): Scriptable {
  return {
    async query<R extends Row = Row>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<R[]> {
      try {
        const result = options?.prepareAs
          ? await client.query({ name: options.prepareAs, text: sql, values: params as unknown[] })
          : await client.query(sql, params as unknown[]);
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

function transactionOf(client: pg.ClientBase, schema: string): Scriptable & Transaction {
  return {
    ...scriptableOf(client, schema),
    async copyFrom(target, chunks) {
      // One COPY for the whole input, streamed: the chunks are written as they come, and a failure
      // of the input cancels the COPY (pg-copy-streams sends CopyFail), which leaves the
      // connection usable for the rollback.
      try {
        await pipeline(Readable.from(chunks), client.query(copyFromStdin(`copy ${target} from stdin`)));
      } catch (error) {
        throw translateError(error, schema);
      }
    },
  };
}

/**
 * Runs `fn` between begin and commit on `client`. A rollback that fails means the connection is
 * gone or unusable: `onBroken` is told, so that the client is discarded instead of pooled again.
 */
async function inTransaction<T>(
  client: pg.ClientBase,
  schema: string,
  fn: (tx: Scriptable & Transaction) => Promise<T>,
  onBroken: (error: Error) => void = () => undefined,
): Promise<T> {
  await client.query('begin');
  try {
    const result = await fn(transactionOf(client, schema));
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch(onBroken);
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

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

// A client of its own, outside the pool, so that long-lived sessions never starve the pool.
async function openDedicatedSession(config: pg.ClientConfig, schema: string): Promise<DedicatedSession> {
  const client = new pg.Client({ ...config, keepAlive: true });
  let closing = false;
  let reportLost: (error: Error) => void = () => undefined;
  const lost = new Promise<Error>((resolve) => {
    reportLost = (error) => {
      if (!closing) resolve(error);
    };
  });
  client.on('error', (error) => reportLost(error));
  client.on('end', () => reportLost(new Error('The connection to the server ended')));
  try {
    await client.connect();
  } catch (error) {
    closing = true;
    await client.end().catch(() => undefined);
    throw translateError(error, schema);
  }
  const base = scriptableOf(client, schema);
  const [row] = await base.query<{ pid: number }>('select pg_backend_pid() as pid');
  return {
    ...base,
    pid: Number(row?.pid),
    lost,
    transaction: (fn) => inTransaction(client, schema, fn),
    async listen(channel, onNotify) {
      if (!CHANNEL.test(channel)) throw new TypeError(`Invalid channel name: ${channel}`);
      client.on('notification', (message) => {
        if (message.channel === channel) onNotify(message.payload ?? '');
      });
      await base.query(`listen ${channel}`);
    },
    async tryLock(classId, objId) {
      const [locked] = await base.query<{ locked: boolean }>('select pg_try_advisory_lock($1::int, $2::int) as locked', [
        classId,
        objId,
      ]);
      return locked?.locked === true;
    },
    async close() {
      if (closing) return;
      closing = true;
      // Ending the connection releases its session locks and its LISTENs.
      await client.end().catch(() => undefined);
    },
  };
}

/** The server engine: a node-postgres pool. */
export function createPgExecutor(options: PgExecutorOptions): Executor {
  const ownsPool = !options.pool;
  const named = applicationNameConfig(options.applicationName);
  const pool = options.pool ?? new pg.Pool({ connectionString: options.url, max: options.max ?? 10, ...named });
  // An idle pooled client that loses its connection emits 'error'; without a listener that kills the process.
  if (ownsPool) pool.on('error', () => undefined);
  const { schema } = options;
  const base = scriptableOf(pool, schema);

  // A client whose connection failed (an 'error' event, or a rollback that failed) is destroyed on
  // release instead of going back to the pool.
  async function withClient<T>(fn: (client: pg.PoolClient, onBroken: (error: Error) => void) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on('error', onError);
    try {
      return await fn(client, onError);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  return {
    engine: 'server',
    query: base.query,
    transaction: <T>(fn: (tx: Transaction) => Promise<T>) => withClient((client, onBroken) => inTransaction(client, schema, fn, onBroken)),
    session: (fn) =>
      withClient((client, onBroken) =>
        fn({
          ...scriptableOf(client, schema),
          script: (sql) => scriptInSession(client, schema, sql),
          transaction: (inner) => inTransaction(client, schema, inner, onBroken),
        }),
      ),
    openSession: () =>
      openDedicatedSession(
        options.pool
          ? { ...pool.options, ...(options.applicationName === undefined ? {} : named) }
          : { connectionString: options.url, ...named },
        schema,
      ),
    async close() {
      if (ownsPool) await pool.end();
    },
  };
}
