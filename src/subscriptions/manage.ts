import type { Queryable, Row } from '../db/executor.js';
import { toDate, toDateOrNull, toInteger, toIntegerOrNull } from '../db/normalize.js';
import { UnknownSubscriptionError } from '../errors.js';
import type { SubscriptionInfo } from '../types.js';
import { assertSubscriptionName, checkStart } from './options.js';

const STATUS_COLUMNS = `name, kind, state, checkpoint, lag_events, lag_seconds, held_back_events, attempts, last_error,
  error_position, error_cursor, error_event_type, error_stream, error_version, types, tables, runner,
  owner, created_at, updated_at, checkpoint_at, reset_at`;

function toSubscriptionInfo(row: Row): SubscriptionInfo {
  const errorPosition = toIntegerOrNull(row.error_position);
  return {
    name: String(row.name),
    kind: row.kind as SubscriptionInfo['kind'],
    state: row.state as SubscriptionInfo['state'],
    checkpoint: String(row.checkpoint),
    lagEvents: toInteger(row.lag_events),
    lagSeconds: Number(row.lag_seconds),
    heldBackEvents: toInteger(row.held_back_events),
    attempts: toInteger(row.attempts),
    lastError: (row.last_error as string | null) ?? null,
    failedEvent:
      errorPosition === null
        ? null
        : {
            position: errorPosition,
            cursor: String(row.error_cursor),
            type: (row.error_event_type as string | null) ?? null,
            stream: row.error_stream === null || row.error_stream === undefined ? null : String(row.error_stream),
            version: toIntegerOrNull(row.error_version),
          },
    types: (row.types as string[] | null) ?? null,
    tables: (row.tables as string[] | null) ?? [],
    runner: (row.runner as string | null) ?? null,
    owner: (row.owner as string | null) ?? null,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    checkpointAt: toDateOrNull(row.checkpoint_at),
    resetAt: toDateOrNull(row.reset_at),
  };
}

/** Every subscription and async projection with its checkpoint, lag and state. */
export async function listSubscriptions(db: Queryable, schema: string): Promise<SubscriptionInfo[]> {
  const rows = await db.query(`select ${STATUS_COLUMNS} from ${schema}.subscription_status order by name`);
  return rows.map(toSubscriptionInfo);
}

/** One subscription. @throws {UnknownSubscriptionError} */
export async function getSubscription(db: Queryable, schema: string, name: string): Promise<SubscriptionInfo> {
  assertSubscriptionName(name);
  const [row] = await db.query(`select ${STATUS_COLUMNS} from ${schema}.subscription_status where name = $1`, [name]);
  if (!row) throw new UnknownSubscriptionError(name);
  return toSubscriptionInfo(row);
}

/**
 * Moves a subscription's checkpoint to 'start', 'end' or a cursor, and clears a failure. An async
 * projection resets to the start only, and its tables are emptied with it.
 * @throws {UnknownSubscriptionError} @throws {InvalidCursorError} @throws {SubscriptionStateError}
 */
export async function resetSubscription(db: Queryable, schema: string, name: string, to: string = 'start'): Promise<SubscriptionInfo> {
  assertSubscriptionName(name);
  const target = checkStart(to, 'to');
  await db.query(`select 1 from ${schema}.reset_subscription($1, $2)`, [name, target]);
  return getSubscription(db, schema, name);
}

/** Skips the event a failed subscription stopped at. @throws {UnknownSubscriptionError} @throws {SubscriptionStateError} */
export async function skipSubscriptionEvent(db: Queryable, schema: string, name: string): Promise<SubscriptionInfo> {
  assertSubscriptionName(name);
  await db.query(`select 1 from ${schema}.skip_subscription_event($1)`, [name]);
  return getSubscription(db, schema, name);
}

/** Retries the event a failed subscription stopped at. @throws {UnknownSubscriptionError} @throws {SubscriptionStateError} */
export async function resumeSubscription(db: Queryable, schema: string, name: string): Promise<SubscriptionInfo> {
  assertSubscriptionName(name);
  await db.query(`select 1 from ${schema}.resume_subscription($1)`, [name]);
  return getSubscription(db, schema, name);
}
