import { setTimeout as delay } from 'node:timers/promises';
import type { Queryable, Row } from '../db/executor.js';
import { ConcurrencyError, InvalidArgumentError, StreamArchivedError } from '../errors.js';
import { appendEvents } from '../store/append.js';
import type { StoreTelemetry } from '../telemetry/append-stats.js';
import { toInteger, toJson } from '../db/normalize.js';
import { EVENT_TABLE_COLUMNS, toStoredEvent } from '../store/event-row.js';
import { readStream } from '../store/read.js';
import { assertInteger, assertStream } from '../store/validate.js';
import type { JsonValue, StoredEvent } from '../types.js';
import type { Aggregate, CommandHandler, EventShape, HandleOptions, HandleResult, StoredEventOf, StreamFold } from './types.js';

const PAGE_SIZE = 1000;
const DEFAULT_MAX_ATTEMPTS = 10;

function assertFunctions(value: unknown, names: readonly string[]): void {
  for (const name of names) {
    if (typeof (value as Record<string, unknown> | null)?.[name] !== 'function') {
      throw new InvalidArgumentError(name, `Invalid ${name}: expected a function`, {
        hint: 'Pass { initial: () => state, evolve: (state, event) => state } (and decide for a command).',
      });
    }
  }
}

const SNAPSHOT_NAME = /^[a-z][a-z0-9_]{0,39}$/;

/**
 * An error naming the snapshot as unknown when it was never defined (then it has no table, and the
 * read failed on that); else `error` as it is (also when the check itself fails, e.g. inside a
 * transaction the failed read aborted).
 */
async function unknownSnapshotOr(db: Queryable, schema: string, name: string, error: unknown): Promise<unknown> {
  try {
    const [row] = await db.query<{ known: boolean }>(`select exists (select 1 from ${schema}.snapshots where name = $1) as known`, [name]);
    if (row?.known !== false) return error;
  } catch {
    return error;
  }
  return new InvalidArgumentError('snapshot', `Unknown snapshot: ${name}`, {
    hint: 'Define it first (defineSnapshot / define_snapshot), or leave snapshot out to fold from the first event.',
    cause: error,
  });
}

/**
 * A stream's snapshot (when the snapshot is built with its current version) and the first page of
 * the events after it, in one statement: one MVCC snapshot, so the state and the events agree.
 */
async function readSnapshotAndEvents(
  db: Queryable,
  schema: string,
  stream: string,
  name: string,
): Promise<{ snapshot: { version: number; state: JsonValue } | null; events: StoredEvent[] }> {
  if (!SNAPSHOT_NAME.test(name)) {
    throw new InvalidArgumentError('snapshot', `Invalid snapshot: ${JSON.stringify(name)} is not a snapshot name`, {
      hint: 'Name a snapshot defined with defineSnapshot.',
    });
  }
  let rows: Row[];
  try {
    rows = await db.query(
      `with snap as (
         select s.version, s.state from ${schema}_snapshots.${name} s
          where s.stream = $1::uuid
            and exists (select 1 from ${schema}.projections p where p.name = $2 and p.built_version = p.version)
       )
       select 'snapshot' as kind, snap.state, null::bigint as id, null::uuid as uuid, snap.version, null::text as type,
              null::jsonb as body, null::jsonb as metadata, null::uuid as event_id, null::timestamptz as inserted_at,
              null::text as transaction_id, null::int as type_version
         from snap
       union all
       -- An archived stream is folded only as readStream reads it: not at all (StreamArchivedError).
       select 'archived', null, null, null, null, null, null, null, null, null, null, null
         from ${schema}.streams st where st.stream = $1::uuid and st.state = 'archived'
       union all
       (select 'event', null::jsonb, ${EVENT_TABLE_COLUMNS}
          from ${schema}.current_events e
         where e.uuid = $1::uuid and e.version > coalesce((select snap.version from snap), 0)
         order by e.version
         limit $3)`,
      [stream, name, PAGE_SIZE],
    );
  } catch (error) {
    throw await unknownSnapshotOr(db, schema, name, error);
  }
  if (rows.some((row) => row.kind === 'archived')) {
    throw new StreamArchivedError(stream, `Stream ${stream} is archived: read it with includeArchived`, {
      hint: 'Unarchive it (unarchiveStream) to fold it and append to it again.',
    });
  }
  const snapshotRow = rows.find((row) => row.kind === 'snapshot');
  return {
    snapshot: snapshotRow ? { version: toInteger(snapshotRow.version), state: toJson<JsonValue>(snapshotRow.state) } : null,
    events: rows.filter((row) => row.kind === 'event').map(toStoredEvent),
  };
}

/**
 * Folds a stream's events, read in pages in version order, into its state; with a snapshot, from
 * the stream's snapshot and the events after it.
 */
export async function aggregateStream<State, E extends EventShape>(
  db: Queryable,
  schema: string,
  stream: string,
  fold: StreamFold<State, E>,
): Promise<Aggregate<State>> {
  assertFunctions(fold, ['initial', 'evolve']);
  let state = fold.initial();
  let version = 0;
  let snapshotVersion: number | null = null;
  let events: StoredEvent[];
  if (fold.snapshot !== undefined) {
    assertStream(stream);
    const read = await readSnapshotAndEvents(db, schema, stream, fold.snapshot);
    if (read.snapshot) {
      state = fold.revive ? fold.revive(read.snapshot.state) : (read.snapshot.state as State);
      version = read.snapshot.version;
      snapshotVersion = version;
    }
    events = read.events;
  } else {
    events = await readStream(db, schema, stream, { fromVersion: 1, limit: PAGE_SIZE });
  }
  for (;;) {
    for (const event of events) {
      state = fold.evolve(state, event as StoredEventOf<E>);
      version = event.version;
    }
    if (events.length < PAGE_SIZE) return { state, version, snapshotVersion };
    events = await readStream(db, schema, stream, { fromVersion: version + 1, limit: PAGE_SIZE });
  }
}

/** A pause before the next attempt, random so that conflicting writers do not meet again in step. */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(100, 2 ** attempt);
}

/**
 * Decides a command on a stream's current state and appends the events it produces with that
 * state's version as the expected version; on a concurrency conflict, folds the stream again and
 * decides again, up to `maxAttempts` times.
 */
export async function handleCommand<State, E extends EventShape, Command>(
  db: Queryable,
  schema: string,
  stream: string,
  handler: CommandHandler<State, E, Command>,
  command: Command,
  options: HandleOptions = {},
  telemetry: StoreTelemetry = { traceContext: true },
): Promise<HandleResult<State>> {
  assertFunctions(handler, ['initial', 'evolve', 'decide']);
  const maxAttempts = options.client ? 1 : assertInteger('maxAttempts', options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, 1, 1000);
  for (let attempt = 1; ; attempt++) {
    const { state, version } = await aggregateStream(db, schema, stream, handler);
    const events = await handler.decide(command, state);
    if (events.length === 0) return { state, version, nextVersion: version, events: [], attempts: attempt };
    try {
      const appended = await appendEvents(db, schema, stream, [...events], version, telemetry);
      return { state, version, nextVersion: appended.nextVersion, events: appended.events, attempts: attempt };
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= maxAttempts) throw error;
      await delay(backoffMs(attempt));
    }
  }
}
