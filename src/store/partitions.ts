import type { Queryable } from '../db/executor.js';
import { toInteger, toIntegerOrNull } from '../db/normalize.js';
import { InvalidArgumentError } from '../errors.js';

/** What {@link partitionEvents} did. */
export interface PartitionEventsResult {
  /** The partitions of the log now (0: one table). */
  partitions: number;
  /** The partitions it had before. */
  previous: number;
  /** Whether the events of archived streams are kept in a partition of their own now. */
  archive: boolean;
  /** Whether they were before. */
  previousArchive: boolean;
  /** The events moved; null when the log already had that layout (nothing was moved). */
  events: number | null;
  /** The functions and views that name the events table's row type, created again. */
  dependents: number;
  /** How long the log was locked for the move, in milliseconds (the downtime of appends and reads). */
  lockedMs: number;
}

/** The layout of the events table. */
export interface EventLayout {
  /** Hash partitions by stream (0: none). */
  partitions: number;
  /** Whether the events of archived streams are kept in a partition of their own. */
  archive: boolean;
}

/** The layout of the events table (0 partitions and no archive partition: one heap table). */
export async function eventLayout(db: Queryable, schema: string): Promise<EventLayout> {
  const [row] = await db.query<{ partitions: unknown; archive: boolean }>(
    `select ${schema}.event_partitions() as partitions, ${schema}.events_archive_partitioned() as archive`,
  );
  return { partitions: toInteger(row?.partitions ?? 0), archive: row?.archive === true };
}

/** How many hash partitions by stream the events table has (0: none). */
export async function eventPartitions(db: Queryable, schema: string): Promise<number> {
  return (await eventLayout(db, schema)).partitions;
}

/** Options of a move of the events table. */
export interface PartitionEventsOptions {
  /**
   * Keep the events of archived streams in a partition of their own (`events_archived`), out of
   * the live events' indexes: archiving a stream then moves its events there. Default: as now.
   */
  archivePartition?: boolean;
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
export async function partitionEvents(
  db: Queryable,
  schema: string,
  partitions: number,
  options: PartitionEventsOptions = {},
): Promise<PartitionEventsResult> {
  assertPartitions(partitions);
  if (options.archivePartition !== undefined && typeof options.archivePartition !== 'boolean') {
    throw new InvalidArgumentError('archivePartition', `Invalid archivePartition: ${JSON.stringify(options.archivePartition)} (true or false)`);
  }
  const started = performance.now();
  const [row] = await db.query<{
    result: { partitions: unknown; previous: unknown; archive: boolean; previous_archive: boolean; events: unknown; dependents: unknown };
  }>(`select ${schema}.partition_events($1, $2) as result`, [partitions, options.archivePartition ?? null]);
  const lockedMs = Math.round(performance.now() - started);
  const result = row!.result;
  return {
    partitions: toInteger(result.partitions),
    previous: toInteger(result.previous),
    archive: result.archive === true,
    previousArchive: result.previous_archive === true,
    events: toIntegerOrNull(result.events),
    dependents: toInteger(result.dependents),
    lockedMs,
  };
}

/** What {@link settleEventLayout} needs of a store. */
export interface LayoutStore {
  readonly schema: string;
  eventLayout(): Promise<EventLayout>;
  partitionEvents(partitions: number, options?: PartitionEventsOptions): Promise<PartitionEventsResult>;
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

/**
 * Gives an empty log the layout asked for (a new store: `openEventStore({ partitions })`,
 * `pgevents migrate --partitions`); refuses a log with events in another layout, which must be
 * moved on purpose ({@link partitionEvents} locks it while it copies). Returns whether it moved.
 */
export async function settleEventLayout(store: LayoutStore, partitions: number, options: PartitionEventsOptions = {}): Promise<boolean> {
  assertPartitions(partitions);
  const layout = await store.eventLayout();
  const archive = options.archivePartition ?? layout.archive;
  if (layout.partitions === partitions && layout.archive === archive) return false;
  const describe = (p: number, a: boolean) =>
    `${p === 0 ? (a ? 'no hash partitions' : 'one table') : `${p} partitions by stream`}${a ? ' and an archive partition' : ''}`;
  const [row] = await store.query(`select not exists (select 1 from ${store.schema}.events) as empty`);
  if (row?.empty !== true) {
    throw new InvalidArgumentError(
      'partitions',
      `The events table of ${store.schema} holds events in another layout: ${describe(layout.partitions, layout.archive)}, not ${describe(partitions, archive)}`,
      { hint: `Move it on purpose with store.partitionEvents(${partitions}${archive !== layout.archive ? `, { archivePartition: ${archive} }` : ''}) (CLI: pgevents partition ${partitions}${archive !== layout.archive ? (archive ? ' --archive-partition' : ' --no-archive-partition') : ''}); it locks the log while it copies the events (docs/scale-out.md).` },
    );
  }
  await store.partitionEvents(partitions, { archivePartition: archive });
  return true;
}
