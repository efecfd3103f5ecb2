import type { EventStore } from '../../src/index.js';
import { waitFor } from './race-helpers.js';

/** The server's clock: what a runner's statements are compared with. */
export async function serverNow(store: EventStore): Promise<string> {
  const [row] = await store.query<{ now: string }>('select clock_timestamp()::text as now');
  return row!.now;
}

/**
 * Waits until the runner of subscription `name` has read the log twice since `since` (a server
 * timestamp): once in a statement that began after it, and once more after that read, so the
 * runner has also handed over whatever the first read gave it. What holds then, while an open
 * transaction stays open, holds for good: no clock decides when to look. The runner is the backend
 * that holds the subscription's lock; pg_stat_activity has its last statement and when it began
 * (its page read, read_page(), is the only statement of the runner's that computes the horizon).
 */
export async function runnerReadTwiceSince(store: EventStore, name: string, since: string, timeoutMs: number): Promise<void> {
  let first: string | undefined;
  await waitFor(
    `the runner of ${name} to read the log twice`,
    async () => {
      const [row] = await store.query<{ started: string }>(
        `select a.query_start::text as started
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
          where l.locktype = 'advisory' and l.granted and l.classid = 1885824376
            and l.objid = ${store.schema}.subscription_lock_key($1)::oid
            and a.query like '%read_page(%' and a.query_start > $2::timestamptz`,
        [name, first ?? since],
      );
      if (!row) return undefined;
      if (first === undefined) {
        first = row.started;
        return undefined;
      }
      return true;
    },
    timeoutMs,
  );
}
