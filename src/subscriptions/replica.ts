import { setTimeout as delay } from 'node:timers/promises';
import type { Executor, Queryable } from '../db/executor.js';
import type { Cursor } from '../store/cursor.js';
import { type Page, readPage } from './read-page.js';

// While the standby replays what the primary had written when the reader woke, ask again after
// 1 ms, doubling up to 5 ms, for at most REPLAY_WAIT_MAX_MS; then read what it has.
const REPLAY_POLL_FIRST_MS = 1;
const REPLAY_POLL_MAX_MS = 5;
const REPLAY_WAIT_MAX_MS = 1000;

/** A page read from a standby: `behind` when it had not yet replayed what the primary had written. */
export interface ReplicaPage extends Page {
  behind: boolean;
}

/**
 * Where a reader (a subscription, an async projection, a follower) reads its pages: from the
 * primary, or from a hot standby.
 *
 * On a standby the page is the same gap-safe page (read_page and safe_horizon are read-only, and
 * the standby's snapshot xmin is the horizon: every transaction below it has ended on the primary
 * and its commit, if any, has been replayed), so a standby that lags only shows less. The checkpoint,
 * the lock, LISTEN and the handler's transaction stay on the primary.
 *
 * NOTIFY is not replayed on a standby: the reader keeps listening on the primary, and before each
 * page it waits (briefly) until the standby has replayed the primary's WAL flush position of that
 * moment, so that the page shows every append committed on the primary before the read began, as a
 * read on the primary would (with synchronous_commit on, a commit is flushed before it is
 * visible; with it off, a wake-up may wait for the next poll): the primary's wake-ups are then
 * never early. When the standby is
 * further behind, the page says `behind` and the reader polls instead of sleeping.
 */
export class PageSource {
  readonly #replica: Executor | undefined;
  /** The last page was full: the reader reads again at once, so this read need not wait. */
  #previousFull = false;

  constructor(replica: Executor | undefined) {
    this.#replica = replica;
  }

  /**
   * Reads one page after `after`: on `primary` (the reader's session on the primary), or on the
   * standby once it has replayed what `primary` had written when the call began. After a full page
   * it reads the standby at once: a reader catching up reads again right away whatever it finds,
   * and the read that may put it to sleep comes after a page that was not full.
   * @param stopping says whether the reader is stopping: the wait for the standby ends then.
   */
  async read(
    primary: Queryable,
    schema: string,
    after: Cursor,
    limit: number,
    types: string[] | null,
    stopping: () => boolean = () => false,
  ): Promise<ReplicaPage> {
    const replica = this.#replica;
    if (!replica) return { ...(await readPage(primary, schema, after, limit, types)), behind: false };
    let behind = false;
    if (!this.#previousFull) {
      const [row] = await primary.query<{ lsn: string }>('select pg_current_wal_flush_lsn()::text as lsn');
      behind = !(await waitForReplay(replica, String(row?.lsn), REPLAY_WAIT_MAX_MS, stopping));
    }
    this.#previousFull = false;
    const page = await readPage(replica, schema, after, limit, types);
    this.#previousFull = page.events.length >= limit;
    return { ...page, behind };
  }
}

/**
 * Waits until the standby behind `replica` has replayed the WAL up to `lsn` (or is not in recovery);
 * returns whether it did within `maxMs`.
 */
export async function waitForReplay(replica: Queryable, lsn: string, maxMs: number, stopping: () => boolean = () => false): Promise<boolean> {
  const deadline = performance.now() + maxMs;
  let pause = REPLAY_POLL_FIRST_MS;
  for (;;) {
    const [row] = await replica.query<{ reached: boolean }>(
      // A server not in recovery (a promoted standby, or the primary itself) has nothing to replay.
      'select not pg_is_in_recovery() or coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) as reached',
      [lsn],
    );
    if (row?.reached === true) return true;
    if (stopping() || performance.now() >= deadline) return false;
    await delay(pause);
    pause = Math.min(REPLAY_POLL_MAX_MS, pause * 2);
  }
}
