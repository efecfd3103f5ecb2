import type { Queryable } from '../db/executor.js';
import type { StoredEvent } from '../types.js';
import { EVENT_TABLE_COLUMNS, toStoredEvent } from './event-row.js';
import { assertInteger } from './validate.js';

/**
 * The event at one position, or null when none is stored there. It is read as stored now, also
 * when an older transaction still holds it back from readAll.
 * @throws {InvalidArgumentError} for a position that is not a positive integer.
 */
export async function readEvent(db: Queryable, schema: string, position: number): Promise<StoredEvent | null> {
  assertInteger('position', position, 1);
  const [row] = await db.query(`select ${EVENT_TABLE_COLUMNS} from ${schema}.current_events e where e.id = $1`, [position]);
  return row ? toStoredEvent(row) : null;
}
