import type { Queryable } from '../db/executor.js';
import { toInteger } from '../db/normalize.js';
import { assertInteger } from './validate.js';

/**
 * Events already committed that readAll (and so every subscription) still holds back, because a
 * transaction that took its id before theirs and might write this database's events is still open
 * (the store's safe_horizon()); they follow as soon as it ends. Counted up to `max`, so that the scan stays bounded; in index
 * order, so that the planner, blind to the horizon, does not choose a sequential scan of the table.
 * @throws {InvalidArgumentError} for a `max` that is not a positive integer.
 */
export async function countHeldBackEvents(db: Queryable, schema: string, max = 10_000): Promise<number> {
  assertInteger('max', max, 1, 1_000_000);
  const [row] = await db.query<{ held: unknown }>(
    `select count(*) as held from (select 1 from ${schema}.events
      where transaction_id >= (select ${schema}.safe_horizon()) order by transaction_id limit $1) t`,
    [max],
  );
  return toInteger(row?.held ?? 0);
}
