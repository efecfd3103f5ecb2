import { AsyncLocalStorage } from 'node:async_hooks';
import { PGlite } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { EmbeddedConnectionBusyError } from '../errors.js';
import type { DedicatedSession, Executor, Row, Scriptable, Session, Transaction } from './executor.js';
import { lockDataDir } from './data-dir-lock.js';
import { translateError } from './translate-error.js';

export type { PGlite };

export interface PgliteExecutorOptions {
  /** Directory of the embedded database; undefined with `pglite` given. */
  dataDir?: string;
  /** Or an instance the caller owns (it is not closed by the store). */
  pglite?: PGlite;
  schema: string;
}

interface PgliteLike {
  query<R>(sql: string, params?: unknown[], options?: { blob?: Blob }): Promise<{ rows: R[] }>;
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

function transactionOf(tx: PgliteLike, schema: string): Scriptable & Transaction {
  return {
    ...scriptableOf(tx, schema),
    async copyFrom(target, chunks) {
      // PGlite reads COPY data from a blob, /dev/blob: one statement a chunk, so that only one
      // chunk is held at a time.
      for await (const chunk of chunks) {
        try {
          await tx.query(`copy ${target} from '/dev/blob'`, [], { blob: new Blob([chunk]) });
        } catch (error) {
          throw translateError(error, schema);
        }
      }
    },
  };
}

// PGlite is one connection: a statement sent outside a transaction while that transaction's own
// callback awaits it would wait forever for the transaction to end. Code running inside a
// transaction callback is marked, so that such a statement fails at once instead.
const insideTransaction = new AsyncLocalStorage<{ db: PGlite; open: boolean }>();

function refuseInsideTransaction(db: PGlite): void {
  const marker = insideTransaction.getStore();
  if (marker?.open && marker.db === db) throw new EmbeddedConnectionBusyError();
}

// Advisory locks are re-entrant within a session, and every dedicated session on PGlite is the same
// session: the locks taken by dedicated sessions are therefore also kept here, per instance.
const heldLocks = new WeakMap<PGlite, Set<string>>();

/** The embedded engine: PGlite (PostgreSQL in WebAssembly), in process, one connection. */
export async function createPgliteExecutor(options: PgliteExecutorOptions): Promise<Executor> {
  const { schema } = options;
  const release = options.pglite ? () => undefined : lockDataDir(options.dataDir ?? './.pgevents');
  let db: PGlite;
  try {
    db = options.pglite ?? (await PGlite.create(options.dataDir ?? './.pgevents', { extensions: { pgcrypto } }));
  } catch (error) {
    release();
    throw error;
  }
  const unguarded = scriptableOf(db, schema);
  const base: Scriptable = {
    query: (sql, params) => {
      refuseInsideTransaction(db);
      return unguarded.query(sql, params);
    },
    script: (sql) => {
      refuseInsideTransaction(db);
      return unguarded.script(sql);
    },
  };
  const transaction = async <T>(fn: (tx: Scriptable & Transaction) => Promise<T>): Promise<T> => {
    refuseInsideTransaction(db);
    return db.transaction(async (tx) => {
      const marker = { db, open: true };
      try {
        return await insideTransaction.run(marker, () => fn(transactionOf(tx, schema)));
      } finally {
        marker.open = false;
      }
    });
  };
  const session: Session = { ...base, script: (sql) => scriptInSession(db, base, sql), transaction };
  const locks = heldLocks.get(db) ?? new Set<string>();
  heldLocks.set(db, locks);

  async function openSession(): Promise<DedicatedSession> {
    const mine: Array<[number, number]> = [];
    const unlisteners: Array<() => Promise<void>> = [];
    const [row] = await base.query<{ pid: number }>('select pg_backend_pid() as pid');
    let closed = false;
    return {
      ...session,
      pid: Number(row?.pid),
      lost: new Promise<Error>(() => undefined),
      async listen(channel, onNotify) {
        unlisteners.push(await db.listen(channel, onNotify));
      },
      async tryLock(classId, objId) {
        const key = `${classId}:${objId}`;
        if (locks.has(key)) return false;
        locks.add(key);
        mine.push([classId, objId]);
        // Taken in PostgreSQL too, so that pg_locks shows who runs what, as on a server.
        await base.query('select pg_advisory_lock($1::int, $2::int)', [classId, objId]);
        return true;
      },
      async close() {
        if (closed) return;
        closed = true;
        for (const unlisten of unlisteners) await unlisten().catch(() => undefined);
        for (const [classId, objId] of mine) {
          locks.delete(`${classId}:${objId}`);
          await unguarded.query('select pg_advisory_unlock($1::int, $2::int)', [classId, objId]).catch(() => undefined);
        }
      },
    };
  }

  return {
    engine: 'embedded',
    query: base.query,
    transaction,
    session: (fn) => fn(session),
    openSession,
    async close() {
      try {
        if (!options.pglite) await db.close();
      } finally {
        release();
      }
    },
  };
}
