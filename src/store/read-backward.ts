import type { Queryable } from '../db/executor.js';
import type { ReadAllResult } from '../types.js';
import { formatCursor, parseCursor, START } from './cursor.js';
import { EVENT_TABLE_COLUMNS, toStoredEvent } from './event-row.js';
import { assertInteger } from './validate.js';

export interface ReadAllBackwardOptions {
  /**
   * Read the events before this cursor (the cursor of an event, or one from readAll); default:
   * from the newest event that readAll would hand out now.
   */
  before?: string;
  /** At most this many events, default 1000. */
  limit?: number;
}

/**
 * The log in the gap-safe order of readAll, backwards: newest first. Without `before` it starts at
 * the newest event of a finished transaction below the horizon, where readAll would end now. With
 * `before`, it reads every event before that place: a cursor readAll handed out has only finished
 * transactions before it, so reading back from it is stable too. The result's cursor is that of
 * the oldest event returned (or `before`, else `0-0`, when none is): pass it as `before` to read on.
 * @throws {InvalidArgumentError} for a malformed cursor, or a limit that is not an integer from 1 to 100,000.
 */
export async function readAllBackward(db: Queryable, schema: string, options: ReadAllBackwardOptions = {}): Promise<ReadAllResult> {
  const before = options.before === undefined ? null : parseCursor(options.before, 'before');
  const limit = assertInteger('limit', options.limit ?? 1000, 1, 100_000);
  const rows = await db.query(
    before
      ? `select ${EVENT_TABLE_COLUMNS} from ${schema}.current_events e
          where (e.transaction_id, e.id) < ($1::xid8, $2::bigint)
          order by e.transaction_id desc, e.id desc
          limit $3`
      : `select ${EVENT_TABLE_COLUMNS} from ${schema}.current_events e
          where e.transaction_id < (select ${schema}.safe_horizon())
          order by e.transaction_id desc, e.id desc
          limit $1`,
    before ? [before.transactionId, before.position, limit] : [limit],
  );
  const events = rows.map(toStoredEvent);
  const oldest = events.at(-1);
  return {
    events,
    cursor: formatCursor(oldest ? { transactionId: oldest.transactionId, position: oldest.position } : (before ?? START)),
  };
}
