import type { Row } from '../db/executor.js';
import { toDate, toInteger, toJson } from '../db/normalize.js';
import type { JsonObject, StoredEvent } from '../types.js';

/** The columns every read selects, in the names the mapper expects. */
export const EVENT_COLUMNS = 'id, uuid, version, type, body, metadata, event_id, inserted_at, transaction_id, type_version';

/**
 * {@link EVENT_COLUMNS} for a read from the current_events view (alias `e`: every event in its
 * current shape): the xid8 as text on either driver.
 */
export const EVENT_TABLE_COLUMNS =
  'e.id, e.uuid, e.version, e.type, e.body, e.metadata, e.event_id, e.inserted_at, e.transaction_id::text as transaction_id, e.type_version';

/** Maps an events row (from either driver) to the documented event object. */
export function toStoredEvent(row: Row): StoredEvent {
  return {
    position: toInteger(row.id),
    stream: String(row.uuid),
    version: toInteger(row.version),
    type: String(row.type),
    body: toJson<JsonObject>(row.body),
    metadata: toJson<JsonObject>(row.metadata),
    eventId: String(row.event_id),
    insertedAt: toDate(row.inserted_at),
    transactionId: String(row.transaction_id),
    typeVersion: row.type_version === null || row.type_version === undefined ? 1 : toInteger(row.type_version),
  };
}
