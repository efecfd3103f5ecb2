import type { Queryable } from '../db/executor.js';
import { toInteger, toIntegerOrNull } from '../db/normalize.js';
import { InvalidArgumentError } from '../errors.js';

/** What {@link partitionEvents} did. */
export interface PartitionEventsResult {
  /** The partitions of the log now (0: one table). */
  partitions: number;
  /** The partitions it had before. */
  previous: number;
  /** The events moved; null when the log already had that layout (nothing was moved). */
  events: number | null;
  /** The functions and views that name the events table's row type, created again. */
  dependents: number;
  /** How long the log was locked for the move, in milliseconds (the downtime of appends and reads). */
  lockedMs: number;
}

/** How many partitions the events table has (0: one heap table). */
export async function eventPartitions(db: Queryable, schema: string): Promise<number> {
  const [row] = await db.query<{ partitions: unknown }>(`select ${schema}.event_partitions() as partitions`);
  return toInteger(row?.partitions ?? 0);
}

export function assertPartitions(partitions: unknown): number {
  if (typeof partitions !== 'number' || !Number.isInteger(partitions) || partitions < 0 || partitions === 1 || partitions > 1024) {
    throw new InvalidArgumentError('partitions', `Invalid number of partitions: ${JSON.stringify(partitions)} (0 for one table, else 2 to 1024)`, {
      hint: 'Give 0 (one table) or from 2 to 1024 partitions; a power of two lets a later move split each partition evenly.',
    });
  }
  return partitions;
}

/**
 * Moves the events table to `partitions` partitions by a hash of the stream (0: one table), in one
 * transaction that locks the log (see `partition_events` in sql/event-log/partition_events.sql).
 */
export async function partitionEvents(db: Queryable, schema: string, partitions: number): Promise<PartitionEventsResult> {
  assertPartitions(partitions);
  const started = performance.now();
  const [row] = await db.query<{ result: { partitions: unknown; previous: unknown; events: unknown; dependents: unknown } }>(
    `select ${schema}.partition_events($1) as result`,
    [partitions],
  );
  const lockedMs = Math.round(performance.now() - started);
  const result = row!.result;
  return {
    partitions: toInteger(result.partitions),
    previous: toInteger(result.previous),
    events: toIntegerOrNull(result.events),
    dependents: toInteger(result.dependents),
    lockedMs,
  };
}

/** What {@link settleEventLayout} needs of a store. */
export interface LayoutStore {
  readonly schema: string;
  eventPartitions(): Promise<number>;
  partitionEvents(partitions: number): Promise<PartitionEventsResult>;
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

/**
 * Gives an empty log the layout asked for (a new store: `openEventStore({ partitions })`,
 * `pgevents migrate --partitions`); refuses a log with events in another layout, which must be
 * moved on purpose ({@link partitionEvents} locks it while it copies). Returns whether it moved.
 */
export async function settleEventLayout(store: LayoutStore, partitions: number): Promise<boolean> {
  assertPartitions(partitions);
  const current = await store.eventPartitions();
  if (current === partitions) return false;
  const [row] = await store.query(`select not exists (select 1 from ${store.schema}.events) as empty`);
  if (row?.empty !== true) {
    throw new InvalidArgumentError(
      'partitions',
      `The events table of ${store.schema} has ${current === 0 ? 'no partitions' : `${current} partitions`}, not ${partitions}, and holds events`,
      { hint: `Move it on purpose with store.partitionEvents(${partitions}) (CLI: pgevents partition ${partitions}); it locks the log while it copies the events (docs/scale-out.md).` },
    );
  }
  await store.partitionEvents(partitions);
  return true;
}
