import type { EventStore, EventTypeStatus, ProjectionStatus, StoreStatus } from '../../index.js';
import { toNumber, toNumberOrNull } from '../rows.js';

function isPermissionDenied(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '42501';
}

/**
 * The store's status. A role that may read the events and read models but not every part of the
 * status (subscriptions, projection health) gets what it may read: counts, event types and the
 * projection registry, each projection's state `unknown`, and no subscriptions.
 */
export async function readableStatus(store: EventStore): Promise<StoreStatus> {
  try {
    return await store.status();
  } catch (error) {
    if (!isPermissionDenied(error)) throw error;
  }
  const schema = store.schema;
  const [totals] = await store.query<{ events: unknown; streams: unknown; last_position: unknown }>(
    `select (select count(*) from ${schema}.events) as events,
            (select count(*) from ${schema}.streams where version > 0) as streams,
            (select max(id) from ${schema}.events) as last_position`,
  );
  const typeRows = await store.query<{ type: string; events: unknown; last_position: unknown; handled_by: string[] | null }>(
    `select type, events, last_position, handled_by from ${schema}.event_types order by type`,
  );
  const eventTypes: EventTypeStatus[] = typeRows.map((row) => ({
    type: row.type,
    events: toNumber(row.events),
    lastPosition: toNumber(row.last_position),
    handledBy: row.handled_by ?? [],
  }));
  const projections: ProjectionStatus[] = (await store.listProjections()).map((projection) => ({
    ...projection,
    handledTypes: Object.keys(projection.handlers),
    rows: null,
    lastPosition: null,
    staleEvents: null,
    state: 'unknown',
    stateText: 'unknown',
    rebuildPhase: null,
    rebuildPercent: null,
  }));
  return {
    engine: store.engine,
    schema,
    schemaVersion: await store.schemaVersion(),
    events: toNumber(totals?.events ?? 0),
    streams: toNumber(totals?.streams ?? 0),
    lastPosition: toNumberOrNull(totals?.last_position),
    eventTypes,
    unhandledTypes: eventTypes.filter((type) => type.handledBy.length === 0).map((type) => type.type),
    projections,
    subscriptions: [],
  };
}
