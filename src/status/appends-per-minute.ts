import type { Queryable } from '../db/executor.js';
import { toDate, toInteger, toIntegerOrNull } from '../db/normalize.js';

/** Events appended per minute over the last hour, from the newest events only (see `capped`). */
export interface AppendsPerMinute {
  /** Start of the first one-minute bucket. */
  start: Date;
  /** 60 counts, oldest first; the last bucket is the current minute. */
  counts: number[];
  /**
   * True when the hour held more events than were scanned (the newest event left out of the scan
   * is in the hour), so that early buckets are undercounted.
   */
  capped: boolean;
}

// At most this many of the newest events are scanned (by position, through the primary key), so
// that the count stays cheap on a large log.
const SCAN_WINDOW = 100_000;

/** Events appended per minute over the last hour, counted over the newest 100,000 events at most. */
export async function appendsPerMinute(db: Queryable, schema: string): Promise<AppendsPerMinute> {
  const rows = await db.query<{ start: unknown; bucket: unknown; events: unknown; capped: unknown }>(
    `with bounds as (select date_trunc('minute', statement_timestamp()) - interval '59 minutes' as start),
          floor_position as (select coalesce(max(id), 0) - ${SCAN_WINDOW} as position from ${schema}.events),
          recent as (
            select e.inserted_at from ${schema}.events e
             where e.id > (select position from floor_position)
               and e.inserted_at >= (select start from bounds)
          )
     select b.start,
            floor(extract(epoch from (r.inserted_at - b.start)) / 60)::int as bucket,
            count(r.inserted_at) as events,
            coalesce((select e.inserted_at >= b.start
                        from ${schema}.events e
                       where e.id <= (select position from floor_position)
                       order by e.id desc limit 1), false) as capped
       from bounds b left join recent r on true
      group by b.start, 2`,
  );
  const counts = Array.from({ length: 60 }, () => 0);
  for (const row of rows) {
    const bucket = toIntegerOrNull(row.bucket);
    if (bucket !== null && bucket >= 0 && bucket < 60) counts[bucket] = toInteger(row.events);
  }
  const first = rows[0];
  return { start: first ? toDate(first.start) : new Date(), counts, capped: first?.capped === true };
}
