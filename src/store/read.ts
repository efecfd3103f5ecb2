import type { Queryable } from '../db/executor.js';
import { InvalidArgumentError } from '../errors.js';
import type { ReadAllOptions, ReadAllResult, ReadStreamOptions, StoredEvent } from '../types.js';
import { formatCursor, parseCursor, START } from './cursor.js';
import { EVENT_COLUMNS, toStoredEvent } from './event-row.js';
import { assertInteger, assertStream } from './validate.js';

/** Events of one stream in version order. */
export async function readStream(
  db: Queryable,
  schema: string,
  stream: string,
  options: ReadStreamOptions = {},
): Promise<StoredEvent[]> {
  assertStream(stream);
  const fromVersion = assertInteger('fromVersion', options.fromVersion ?? 1, 1);
  const limit = assertInteger('limit', options.limit ?? 1000, 1, 100_000);
  const rows = await db.query(`select ${EVENT_COLUMNS} from ${schema}.read_stream($1::uuid, $2, $3, $4)`, [
    stream,
    fromVersion,
    limit,
    options.includeArchived === true,
  ]);
  return rows.map(toStoredEvent);
}

/**
 * Gap-safe read of the whole log after a cursor: only events of finished transactions, in the
 * stable order (transaction id, position).
 */
export async function readAll(db: Queryable, schema: string, options: ReadAllOptions = {}): Promise<ReadAllResult> {
  const after = options.after === undefined ? START : parseCursor(options.after, 'after');
  if (options.types !== undefined && options.types.length === 0) {
    throw new InvalidArgumentError('types', 'Invalid types: name at least one event type, or leave types out');
  }
  const limit = assertInteger('limit', options.limit ?? 1000, 1, 100_000);
  const rows = await db.query(`select ${EVENT_COLUMNS} from ${schema}.read_all($1::xid8, $2, $3, $4)`, [
    after.transactionId,
    after.position,
    limit,
    options.types ?? null,
  ]);
  const events = rows.map(toStoredEvent);
  const last = events.at(-1);
  return {
    events,
    cursor: formatCursor(last ? { transactionId: last.transactionId, position: last.position } : after),
  };
}
