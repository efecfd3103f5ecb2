import type { Queryable } from '../db/executor.js';
import { toInteger } from '../db/normalize.js';
import type { Cursor } from '../store/cursor.js';
import { toStoredEvent } from '../store/event-row.js';
import type { StoredEvent } from '../types.js';

/** Orders cursors as the log does: by transaction id, then position. */
export function compareCursors(a: Cursor, b: Cursor): number {
  const ta = BigInt(a.transactionId);
  const tb = BigInt(b.transactionId);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.position === b.position ? 0 : a.position < b.position ? -1 : 1;
}

export function cursorOf(event: StoredEvent): Cursor {
  return { transactionId: event.transactionId, position: event.position };
}

export interface Page {
  /** The next safe events after the cursor, in log order. */
  events: StoredEvent[];
  /**
   * Where the next page starts: after the last event, or, when the page is not full, after the last
   * event safe to read at all, so that a reader of a few types does not scan the others again.
   */
  next: Cursor;
  /** Committed events after the cursor wait for an older transaction that is still open. */
  heldBack: boolean;
}

/**
 * Reads one page of the log after a cursor, with the gap-safe rule of read_all: the store's
 * read_page(), which takes its events, the last safe event and the held-back check from one
 * horizon. The page may skip to that last safe event only because nothing of its types was missed
 * before it.
 */
export async function readPage(db: Queryable, schema: string, after: Cursor, limit: number, types: string[] | null): Promise<Page> {
  const rows = await db.query(`select * from ${schema}.read_page($1::xid8, $2::bigint, $3::int, $4::text[])`, [
    after.transactionId,
    after.position,
    limit,
    types,
  ]);
  const events: StoredEvent[] = [];
  let head: Cursor | undefined;
  let heldBack = false;
  for (const row of rows) {
    if (row.kind === 'event') events.push(toStoredEvent(row));
    else if (row.kind === 'head') head = { transactionId: String(row.transaction_id), position: toInteger(row.id) };
    else heldBack = true;
  }
  events.sort((a, b) => compareCursors(cursorOf(a), cursorOf(b)));
  let next = events.length > 0 ? cursorOf(events[events.length - 1]!) : after;
  if (events.length < limit && head && compareCursors(head, next) > 0) next = head;
  return { events, next, heldBack };
}

/**
 * The cursor of the last committed event (safe to read or still held back), '0-0' for an empty log:
 * a reader has handled everything committed so far once its cursor reaches it.
 */
export async function committedHead(db: Queryable, schema: string): Promise<Cursor> {
  const [row] = await db.query<{ transaction_id: unknown; id: unknown }>(
    `select e.transaction_id, e.id from ${schema}.events e order by e.transaction_id desc, e.id desc limit 1`,
  );
  return row ? { transactionId: String(row.transaction_id), position: toInteger(row.id) } : { transactionId: '0', position: 0 };
}
