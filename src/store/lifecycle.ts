import type { Queryable } from '../db/executor.js';
import { toDateOrNull, toInteger, toIntegerOrNull } from '../db/normalize.js';
import { InvalidArgumentError } from '../errors.js';
import { assertInteger, assertStream } from './validate.js';

/** Where a stream is in its lifecycle (see docs/stream-lifecycle.md). */
export type StreamLifecycleState = 'live' | 'archived' | 'tombstoned';

/** A lifecycle operation, as recorded in the `stream_lifecycle` audit table. */
export type StreamLifecycleOperation = 'archive' | 'unarchive' | 'tombstone' | 'truncate_before';

/** The state of one stream ({@link streamState}). */
export interface StreamState {
  stream: string;
  state: StreamLifecycleState;
  /** The version of its last event (0 for a stream tombstoned before it had any). */
  version: number;
  /** How many events it holds now (fewer than `version` after a truncate-before). */
  events: number;
  /** The lowest version it holds (above 1 after a truncate-before), null when it holds none. */
  firstVersion: number | null;
  /** Its last lifecycle change, null when it never had one. */
  lastChange: { operation: StreamLifecycleOperation; at: Date; by: string; reason: string } | null;
}

/** Options of every lifecycle operation. */
export interface StreamLifecycleOptions {
  /** Why: required, kept in the audit (`stream_lifecycle`) with who did it and when. */
  reason: string;
}

export interface TruncateStreamBeforeOptions extends StreamLifecycleOptions {
  /**
   * Delete even though no snapshot of the stream reaches `beforeVersion - 1` (default false: then
   * the truncation is refused, so that the state the deleted events made is never lost).
   */
  withoutSnapshot?: boolean;
}

function assertReason(options: StreamLifecycleOptions | undefined): string {
  const reason = options?.reason;
  if (typeof reason !== 'string' || reason.trim() === '') {
    throw new InvalidArgumentError('reason', 'A reason is required: say why (it is kept in the audit with who and when)', {
      hint: "Pass { reason: 'customer closed the account' } (CLI: --reason \"…\").",
    });
  }
  return reason;
}

async function changeState(
  db: Queryable,
  schema: string,
  fn: 'archive_stream' | 'unarchive_stream' | 'tombstone_stream',
  stream: string,
  options: StreamLifecycleOptions,
): Promise<StreamLifecycleState> {
  assertStream(stream);
  const reason = assertReason(options);
  const [row] = await db.query<{ state: StreamLifecycleState }>(`select ${schema}.${fn}($1::uuid, $2) as state`, [stream, reason]);
  return row!.state;
}

/** Archives a stream; see {@link EventStore.archiveStream}. */
export function archiveStream(db: Queryable, schema: string, stream: string, options: StreamLifecycleOptions): Promise<StreamLifecycleState> {
  return changeState(db, schema, 'archive_stream', stream, options);
}

/** Makes an archived stream live again; see {@link EventStore.unarchiveStream}. */
export function unarchiveStream(db: Queryable, schema: string, stream: string, options: StreamLifecycleOptions): Promise<StreamLifecycleState> {
  return changeState(db, schema, 'unarchive_stream', stream, options);
}

/** Tombstones a stream; see {@link EventStore.tombstoneStream}. */
export function tombstoneStream(db: Queryable, schema: string, stream: string, options: StreamLifecycleOptions): Promise<StreamLifecycleState> {
  return changeState(db, schema, 'tombstone_stream', stream, options);
}

/** Deletes a stream's events below a version; see {@link EventStore.truncateStreamBefore}. */
export async function truncateStreamBefore(
  db: Queryable,
  schema: string,
  stream: string,
  beforeVersion: number,
  options: TruncateStreamBeforeOptions,
): Promise<{ deleted: number }> {
  assertStream(stream);
  const version = assertInteger('beforeVersion', beforeVersion, 1);
  const reason = assertReason(options);
  const [row] = await db.query<{ deleted: unknown }>(
    `select ${schema}.truncate_stream_before($1::uuid, $2, $3, $4) as deleted`,
    [stream, version, reason, options.withoutSnapshot !== true],
  );
  return { deleted: toInteger(row!.deleted) };
}

/** The state of a stream, or null when the store has never seen it. */
export async function streamState(db: Queryable, schema: string, stream: string): Promise<StreamState | null> {
  assertStream(stream);
  const [row] = await db.query<Record<string, unknown>>(
    `select stream::text, state, version, events, first_version, changed_at, changed_by::text, change, reason
       from ${schema}.stream_state($1::uuid)`,
    [stream],
  );
  if (!row) return null;
  const at = toDateOrNull(row.changed_at);
  return {
    stream: String(row.stream),
    state: row.state as StreamLifecycleState,
    version: toInteger(row.version),
    events: toInteger(row.events),
    firstVersion: toIntegerOrNull(row.first_version),
    lastChange:
      at === null
        ? null
        : { operation: row.change as StreamLifecycleOperation, at, by: String(row.changed_by), reason: String(row.reason) },
  };
}
