import { type Erasure, type EventStore, InvalidArgumentError } from '../../index.js';
import { HttpError, intParam, timeParam } from '../http.js';
import { eventJson } from '../json.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EVENT_TYPE = /^[A-Za-z_][A-Za-z0-9_.:/-]{0,199}$/;

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
  const prefix = url.searchParams.get('q') ?? undefined;
  const type = url.searchParams.get('type') || undefined;
  if (type !== undefined && !EVENT_TYPE.test(type)) throw new HttpError(400, 'BAD_REQUEST', `Not an event type: ${JSON.stringify(type.slice(0, 60))}`);
  const from = timeParam(url, 'from') ?? undefined;
  const to = timeParam(url, 'to') ?? undefined;
  const limit = intParam(url, 'limit', 25, 1, 200);
  const offset = intParam(url, 'offset', 0, 0, 1_000_000);
  const found = await store.listStreams({ prefix, type, from, to, limit, offset }).catch((error: unknown) => {
    // The search text is the one argument the console passes on unchecked.
    if (error instanceof InvalidArgumentError) throw new HttpError(400, 'BAD_REQUEST', error.message, error.hint);
    throw error;
  });
  const streams: StreamSummary[] = found.streams.map((summary) => ({
    stream: summary.stream,
    version: summary.version,
    matching: summary.matching,
    types: summary.types,
    firstAt: summary.firstInsertedAt.toISOString(),
    lastAt: summary.lastInsertedAt.toISOString(),
    lastPosition: summary.lastPosition,
  }));
  return { streams, offset, limit, hasMore: found.hasMore };
}

/** One page of a stream's events, in version order. */
export async function streamPage(store: EventStore, stream: string, url: URL) {
  if (!UUID.test(stream)) throw new HttpError(400, 'BAD_REQUEST', `A stream is a uuid, not ${JSON.stringify(stream.slice(0, 60))}`);
  const fromVersion = intParam(url, 'fromVersion', 1, 1, Number.MAX_SAFE_INTEGER);
  const limit = intParam(url, 'limit', 50, 1, 500);
  const state = await store.streamState(stream);
  if (state === null) throw new HttpError(404, 'UNKNOWN_STREAM', `No events in stream ${stream}`);
  // The console shows an archived stream's events too (a read on request); its state says it is archived.
  const events = await store.readStream(stream, { fromVersion, limit, includeArchived: true });
  const erasures = await store.listErasures({ stream });
  return {
    stream,
    version: state.version,
    state: state.state,
    eventCount: state.events,
    firstVersion: state.firstVersion,
    lastChange: state.lastChange && { ...state.lastChange, at: state.lastChange.at.toISOString() },
    fromVersion,
    limit,
    events: events.map(eventJson),
    erasures: erasures.map(erasureJson),
  };
}

/** An erasure as the console shows it (no personal data: key ids, who, when, why, what was replayed). */
function erasureJson(erasure: Erasure) {
  return { ...erasure, forgottenAt: erasure.forgottenAt.toISOString() };
}

/** The erasures recorded by forget, newest first. */
export async function listErasureRecords(store: EventStore, url: URL) {
  const limit = intParam(url, 'limit', 100, 1, 1000);
  return { erasures: (await store.listErasures({ limit })).map(erasureJson), limit };
}

/** One event by position, with its neighbours in the gap-safe global order. */
export async function eventAt(store: EventStore, positionText: string) {
  if (!/^\d{1,18}$/.test(positionText)) throw new HttpError(400, 'BAD_REQUEST', `A position is a positive integer, not ${JSON.stringify(positionText.slice(0, 60))}`);
  const position = Number(positionText);
  // Position 0 and positions beyond 2^53 are never stored.
  const stored = position >= 1 && Number.isSafeInteger(position) ? await store.readEvent(position) : null;
  if (!stored) throw new HttpError(404, 'UNKNOWN_EVENT', `No event at position ${positionText}`);
  const event = eventJson(stored);
  const [previous] = (await store.readAllBackward({ before: event.cursor, limit: 1 })).events;
  const [next] = (await store.readAll({ after: event.cursor, limit: 1 })).events;
  return {
    event,
    streamVersion: (await store.streamVersion(event.stream)) || event.version,
    previous: previous?.position ?? null,
    next: next?.position ?? null,
  };
}

/** Stored event types with their counts, for the search filters. */
export async function eventTypes(store: EventStore) {
  return (await store.listEventTypes()).map((type) => ({ type: type.type, events: type.events }));
}
