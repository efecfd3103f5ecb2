import type { Queryable } from '../db/executor.js';
import { toInteger } from '../db/normalize.js';
import type { EventTypeStatus } from '../types.js';

/** Every stored event type with its count, last position and the projections that handle it, by name. */
export async function listEventTypes(db: Queryable, schema: string): Promise<EventTypeStatus[]> {
  const rows = await db.query<{ type: string; events: unknown; last_position: unknown; handled_by: string[] | null }>(
    `select type, events, last_position, handled_by from ${schema}.event_types order by type`,
  );
  return rows.map((row) => ({
    type: row.type,
    events: toInteger(row.events),
    lastPosition: toInteger(row.last_position),
    handledBy: row.handled_by ?? [],
  }));
}
