import type { Queryable } from '../db/executor.js';
import { toDate, toInteger } from '../db/normalize.js';
import { InvalidArgumentError } from '../errors.js';
import { assertInteger, assertStream } from './validate.js';

export interface ListStreamsOptions {
  /** A stream uuid, or its first hex digits (dashes and case do not matter). */
  prefix?: string;
  /** Only streams with events of this type; `matching` counts those. */
  type?: string;
  /** Only events inserted at or after this time. */
  from?: Date;
  /** Only events inserted before this time. */
  to?: Date;
  /** At most this many streams, default 25. */
  limit?: number;
  /** Skip this many streams first (a later page), default 0. */
  offset?: number;
}

/** A stream found by {@link listStreams}. */
export interface StreamSummary {
  stream: string;
  /** The stream's version: how many events it holds. */
  version: number;
  /** Its events that match the type and time filters. */
  matching: number;
  /** The types of those events, sorted. */
  types: string[];
  /** When the first and the last of those events were inserted. */
  firstInsertedAt: Date;
  lastInsertedAt: Date;
  /** Position of the last of those events. */
  lastPosition: number;
}

export interface ListStreamsResult {
  /** Most recently written first. */
  streams: StreamSummary[];
  /** Whether there are more streams after this page. */
  hasMore: boolean;
}

const HEX_PREFIX = /^[0-9a-f]{1,32}$/;

function asUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The uuid range a prefix stands for, so that the search uses the index on (uuid, version)
 * instead of a text scan. @throws {InvalidArgumentError}
 */
function prefixRange(prefix: string): { from: string; to: string } | null {
  const trimmed = prefix.trim().toLowerCase();
  if (trimmed === '') return null;
  const hex = trimmed.replace(/-/g, '');
  if (!HEX_PREFIX.test(hex)) {
    throw new InvalidArgumentError('prefix', `Invalid stream prefix: ${JSON.stringify(prefix.slice(0, 60))} is not a uuid or its first hex digits`, {
      hint: 'Give a whole stream uuid, or its first hex digits, e.g. 3f2a or 3f2a91c0-8b.',
    });
  }
  return { from: asUuid(hex.padEnd(32, '0')), to: asUuid(hex.padEnd(32, 'f')) };
}

function assertTime(name: string, value: unknown): Date | null {
  if (value === undefined) return null;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidArgumentError(name, `Invalid ${name}: expected a Date`);
  }
  return value;
}

/** Events read per step of the backward scan that finds the most recently written streams. */
const SCAN_CHUNK = 10_000;

/**
 * The `wanted` streams whose matching events were written last, newest first: the events read
 * backwards by position (by the (type, id) index with a type), a chunk at a time, until that many
 * streams have turned up. It reads as much of the log as it must, not all of it as a grouping of
 * every event would: on a large store the newest chunk usually names a page of streams.
 */
async function recentStreams(
  db: Queryable,
  schema: string,
  filter: { type: string | null; from: Date | null; to: Date | null },
  wanted: number,
): Promise<string[]> {
  const found = new Set<string>();
  let before: number | null = null;
  for (;;) {
    const rows: { id: unknown; stream: string }[] = await db.query(
      `select e.id, e.uuid::text as stream from ${schema}.events e
        where ($1::bigint is null or e.id < $1)
          and ($2::text is null or e.type = $2)
          and ($3::timestamptz is null or e.inserted_at >= $3)
          and ($4::timestamptz is null or e.inserted_at < $4)
        order by e.id desc
        limit ${SCAN_CHUNK}`,
      [before, filter.type, filter.from, filter.to],
    );
    for (const row of rows) {
      found.add(row.stream);
      if (found.size === wanted) return [...found];
    }
    if (rows.length < SCAN_CHUNK) return [...found];
    before = toInteger(rows[rows.length - 1]!.id);
  }
}

/**
 * Streams that match a uuid prefix, an event type and a time range, most recently written first.
 * With a prefix, the streams in its uuid range are grouped (the (uuid, version) index finds them);
 * without one, a backward scan finds the page's streams first (recentStreams), then only their
 * events are grouped.
 * @throws {InvalidArgumentError} for a prefix that is not hex digits, a bad time, limit or offset.
 */
export async function listStreams(db: Queryable, schema: string, options: ListStreamsOptions = {}): Promise<ListStreamsResult> {
  const range = options.prefix === undefined ? null : prefixRange(String(options.prefix));
  const from = assertTime('from', options.from);
  const to = assertTime('to', options.to);
  const limit = assertInteger('limit', options.limit ?? 25, 1, 10_000);
  const offset = assertInteger('offset', options.offset ?? 0, 0);
  const type = options.type ?? null;
  let streams: string[] | null = null;
  let hasMore = false;
  if (!range) {
    const recent = await recentStreams(db, schema, { type, from, to }, offset + limit + 1);
    hasMore = recent.length > offset + limit;
    streams = recent.slice(offset, offset + limit);
    if (streams.length === 0) return { streams: [], hasMore: false };
  }
  const rows = await db.query(
    `select e.uuid::text as stream, s.version, count(*) as matching,
            array_agg(distinct e.type order by e.type) as types,
            min(e.inserted_at) as first_at, max(e.inserted_at) as last_at, max(e.id) as last_position
       from ${schema}.events e
       join ${schema}.streams s on s.stream = e.uuid
      where ($1::uuid is null or e.uuid between $1::uuid and $2::uuid)
        and ($8::uuid[] is null or e.uuid = any($8::uuid[]))
        and ($3::text is null or e.type = $3)
        and ($4::timestamptz is null or e.inserted_at >= $4)
        and ($5::timestamptz is null or e.inserted_at < $5)
      group by e.uuid, s.version
      order by max(e.id) desc
      limit $6 offset $7`,
    [range?.from ?? null, range?.to ?? null, type, from, to, streams ? limit : limit + 1, streams ? 0 : offset, streams],
  );
  return {
    streams: rows.slice(0, limit).map((row) => ({
      stream: String(row.stream),
      version: toInteger(row.version),
      matching: toInteger(row.matching),
      types: (row.types as string[] | null) ?? [],
      firstInsertedAt: toDate(row.first_at),
      lastInsertedAt: toDate(row.last_at),
      lastPosition: toInteger(row.last_position),
    })),
    hasMore: streams ? hasMore : rows.length > limit,
  };
}

/** A stream's version: how many events it holds (0 for a stream without events). @throws {InvalidEventError} for a stream id that is not a uuid. */
export async function streamVersion(db: Queryable, schema: string, stream: string): Promise<number> {
  assertStream(stream);
  const [row] = await db.query<{ version: unknown }>(`select version from ${schema}.streams where stream = $1`, [stream]);
  return row ? toInteger(row.version) : 0;
}
