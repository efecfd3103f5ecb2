import type { Executor } from '../db/executor.js';
import { toInteger, toIntegerOrNull } from '../db/normalize.js';
import { projectionStatuses } from '../rebuild/health.js';
import { schemaVersion } from '../migrations/runner.js';
import { listSubscriptions } from '../subscriptions/manage.js';
import type { StoreStatus } from '../types.js';
import { listDeclaredEventTypes, strictEventTypes } from '../store/declared-types.js';
import { listEventTypes } from './event-types.js';

/** Counts, event types (with the ones no projection handles) and projections. */
export async function storeStatus(executor: Executor, schema: string): Promise<StoreStatus> {
  const version = await schemaVersion(executor, schema);
  const [totals] = await executor.query<{ events: unknown; streams: unknown; last_position: unknown }>(
    `select (select count(*) from ${schema}.events) as events,
            (select count(*) from ${schema}.streams where version > 0) as streams,
            (select max(id) from ${schema}.events) as last_position`,
  );
  const eventTypes = await listEventTypes(executor, schema);
  const declared = version >= 10 ? await listDeclaredEventTypes(executor, schema) : [];
  const declaredNames = new Set(declared.map((type) => type.type));
  return {
    engine: executor.engine,
    schema,
    schemaVersion: version,
    events: toInteger(totals?.events ?? 0),
    streams: toInteger(totals?.streams ?? 0),
    lastPosition: toIntegerOrNull(totals?.last_position),
    eventTypes,
    unhandledTypes: eventTypes.filter((type) => type.handledBy.length === 0).map((type) => type.type),
    strictEventTypes: version >= 10 ? await strictEventTypes(executor, schema) : false,
    undeclaredTypes: declared.length === 0 ? [] : eventTypes.filter((type) => !declaredNames.has(type.type)).map((type) => type.type),
    projections: await projectionStatuses(executor, schema, version),
    subscriptions: (await canReadSubscriptions(executor, schema, version)) ? await listSubscriptions(executor, schema) : [],
  };
}

// Subscriptions arrived with migration 3, and are the owner's: a reader's status leaves them out
// instead of failing.
export async function canReadSubscriptions(executor: Executor, schema: string, version: number): Promise<boolean> {
  if (version < 3) return false;
  const [row] = await executor.query<{ readable: boolean }>(
    `select has_table_privilege($1, 'select') as readable`,
    [`${schema}.subscription_status`],
  );
  return row?.readable === true;
}
