import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Executor, Row } from '../db/executor.js';
import { translateError } from '../db/translate-error.js';

/** The one transaction of an import: statements, and COPY into a table of it. */
export interface ImportTransaction {
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** Loads COPY text-format data, chunk by chunk, into `target` (a table and its column list). */
  copy(target: string, chunks: AsyncIterable<string>): Promise<void>;
}

// COPY is not part of the executor interface (no other operation needs it): the import reaches the
// driver behind the store's executor, which exposes its pool (server) or instance (embedded).
function driverOf(executor: Executor): { pool: pg.Pool } | { pglite: PGlite } {
  const exposed = executor as Executor & { pool?: pg.Pool; pglite?: PGlite };
  if (executor.engine === 'server' && exposed.pool) return { pool: exposed.pool };
  if (executor.engine === 'embedded' && exposed.pglite) return { pglite: exposed.pglite };
  throw new TypeError(`The ${executor.engine} engine's executor does not expose its driver for COPY`);
}

async function onServer<T>(pool: pg.Pool, schema: string, fn: (tx: ImportTransaction) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  const query = async <R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> => {
    try {
      return (await client.query(sql, params as unknown[])).rows as R[];
    } catch (error) {
      throw translateError(error, schema);
    }
  };
  try {
    await query('begin');
    try {
      const result = await fn({
        query,
        async copy(target, chunks) {
          // One COPY for the whole input, streamed: the chunks are written as they come, and a
          // failure of the input (a bad line) cancels the COPY (pg-copy-streams sends CopyFail).
          try {
            await pipeline(Readable.from(chunks), client.query(copyFrom(`copy ${target} from stdin`)));
          } catch (error) {
            throw translateError(error, schema);
          }
        },
      });
      await query('commit');
      return result;
    } catch (error) {
      await client.query('rollback').catch((rollbackError: Error) => {
        broken ??= rollbackError;
      });
      throw error;
    }
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

function onEmbedded<T>(pglite: PGlite, schema: string, fn: (tx: ImportTransaction) => Promise<T>): Promise<T> {
  return pglite.transaction(async (tx) => {
    const run = async <R extends Row = Row>(sql: string, params: readonly unknown[], blob?: Blob): Promise<R[]> => {
      try {
        return (await tx.query<R>(sql, [...params], blob ? { blob } : undefined)).rows;
      } catch (error) {
        throw translateError(error, schema);
      }
    };
    return fn({
      query: (sql, params = []) => run(sql, params),
      async copy(target, chunks) {
        // PGlite reads COPY data from a blob, one statement per chunk.
        for await (const chunk of chunks) await run(`copy ${target} from '/dev/blob'`, [], new Blob([chunk]));
      },
    });
  });
}

/**
 * Runs `fn` in one transaction on a connection of its own (the server) or on the one connection
 * (embedded): committed when it returns, rolled back when it throws.
 */
export function inImportTransaction<T>(executor: Executor, schema: string, fn: (tx: ImportTransaction) => Promise<T>): Promise<T> {
  const driver = driverOf(executor);
  return 'pool' in driver ? onServer(driver.pool, schema, fn) : onEmbedded(driver.pglite, schema, fn);
}
