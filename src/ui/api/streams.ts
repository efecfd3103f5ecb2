import type { EventStore } from '../../index.js';
import { HttpError, intParam, timeParam } from '../http.js';
import { EVENT_SELECT, eventFromRow, eventJson, toIso, toNumber } from '../rows.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EVENT_TYPE = /^[A-Za-z_][A-Za-z0-9_.:/-]{0,199}$/;

function asUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The uuid range a search text stands for: a whole uuid, or the first hex digits of one (dashes
 * optional), so that the search uses the index on (uuid, version) instead of a text scan.
 */
export function streamRange(text: string): { from: string; to: string } | null {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === '') return null;
  const hex = trimmed.replace(/-/g, '');
  if (!/^[0-9a-f]{1,32}$/.test(hex)) {
    throw new HttpError(400, 'BAD_REQUEST', `Search by stream uuid or its first hex digits, not ${JSON.stringify(text.slice(0, 60))}`);
  }
  return { from: asUuid(hex.padEnd(32, '0')), to: asUuid(hex.padEnd(32, 'f')) };
}

/** A stream in the search results. */
export interface StreamSummary {
  stream: string;
  /** The stream's version: how many events it holds. */
  version: number;
  /** Events that match the filters. */
  matching: number;
  types: string[];
  firstAt: string;
  lastAt: string;
  lastPosition: number;
}

/** Streams matching a uuid (prefix), an event type and a time range, most recently written first. */
export async function searchStreams(store: EventStore, url: URL) {
  const range = streamRange(url.searchParams.get('q') ?? '');
  const type = url.searchParams.get('type') || null;
  if (type !== null && !EVENT_TYPE.test(type)) throw new HttpError(400, 'BAD_REQUEST', `Not an event type: ${JSON.stringify(type.slice(0, 60))}`);
  const from = timeParam(url, 'from');
  const to = timeParam(url, 'to');
  const limit = intParam(url, 'limit', 25, 1, 200);
  const offset = intParam(url, 'offset', 0, 0, 1_000_000);
  const schema = store.schema;
  const rows = await store.query(
    `select e.uuid::text as stream, s.version, count(*) as matching,
            array_agg(distinct e.type order by e.type) as types,
            min(e.inserted_at) as first_at, max(e.inserted_at) as last_at, max(e.id) as last_position
       from ${schema}.events e
       join ${schema}.streams s on s.stream = e.uuid
      where ($1::uuid is null or e.uuid between $1::uuid and $2::uuid)
        and ($3::text is null or e.type = $3)
        and ($4::timestamptz is null or e.inserted_at >= $4)
        and ($5::timestamptz is null or e.inserted_at < $5)
      group by e.uuid, s.version
      order by max(e.id) desc
      limit $6 offset $7`,
    [range?.from ?? null, range?.to ?? null, type, from, to, limit + 1, offset],
  );
  const streams: StreamSummary[] = rows.slice(0, limit).map((row) => ({
    stream: String(row.stream),
    version: toNumber(row.version),
    matching: toNumber(row.matching),
    types: (row.types as string[] | null) ?? [],
    firstAt: toIso(row.first_at),
    lastAt: toIso(row.last_at),
    lastPosition: toNumber(row.last_position),
  }));
  return { streams, offset, limit, hasMore: rows.length > limit };
}

/** One page of a stream's events, in version order. */
export async function streamPage(store: EventStore, stream: string, url: URL) {
  if (!UUID.test(stream)) throw new HttpError(400, 'BAD_REQUEST', `A stream is a uuid, not ${JSON.stringify(stream.slice(0, 60))}`);
  const fromVersion = intParam(url, 'fromVersion', 1, 1, Number.MAX_SAFE_INTEGER);
  const limit = intParam(url, 'limit', 50, 1, 500);
  const [row] = await store.query<{ version: unknown }>(`select version from ${store.schema}.streams where stream = $1`, [stream]);
  const version = row ? toNumber(row.version) : 0;
  if (version === 0) throw new HttpError(404, 'UNKNOWN_STREAM', `No events in stream ${stream}`);
  const events = await store.readStream(stream, { fromVersion, limit });
  return { stream, version, fromVersion, limit, events: events.map(eventJson) };
}

/** One event by position, with its neighbours in the gap-safe global order. */
export async function eventAt(store: EventStore, positionText: string) {
  if (!/^\d{1,18}$/.test(positionText)) throw new HttpError(400, 'BAD_REQUEST', `A position is a positive integer, not ${JSON.stringify(positionText.slice(0, 60))}`);
  const schema = store.schema;
  const [row] = await store.query(`select ${EVENT_SELECT} from ${schema}.events where id = $1`, [positionText]);
  if (!row) throw new HttpError(404, 'UNKNOWN_EVENT', `No event at position ${positionText}`);
  const event = eventFromRow(row);
  const [previous] = await store.query<{ id: unknown }>(
    `select id from ${schema}.events where (transaction_id, id) < ($1::xid8, $2::bigint) order by transaction_id desc, id desc limit 1`,
    [event.transactionId, event.position],
  );
  const next = await store.readAll({ after: event.cursor, limit: 1 });
  const [stream] = await store.query<{ version: unknown }>(`select version from ${schema}.streams where stream = $1`, [event.stream]);
  return {
    event,
    streamVersion: stream ? toNumber(stream.version) : event.version,
    previous: previous ? toNumber(previous.id) : null,
    next: next.events[0]?.position ?? null,
  };
}

/** Stored event types with their counts, for the search filters. */
export async function eventTypes(store: EventStore) {
  const rows = await store.query<{ type: string; events: unknown }>(`select type, events from ${store.schema}.event_types order by type`);
  return rows.map((row) => ({ type: row.type, events: toNumber(row.events) }));
}
