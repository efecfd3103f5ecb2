/**
 * What the pgevents systems on the server share: the schema (installed by pgevents' migrate), the
 * users projection (bench/sql/pgevents-users.sql), replay, the set-based rebuild and the counts.
 */
import type pg from 'pg';
import { withClient } from './db.js';
import { benchSql, copyEvents } from './sql.js';
import { timed } from './time.js';
import type { BulkSource, Counts, Timed } from './types.js';

export const SCHEMA = 'pgevents';

/** The users projection's per-event handlers: the seed's functions (bench/sql/pgevents-handlers.sql). */
export const USERS_HANDLERS = { user_create: 'fn_project_user_create', user_update: 'fn_project_user_update' };

/** The users projection's batch handler (bench/sql/pgevents-handlers.sql): one call per statement. */
export const USERS_BATCH_HANDLERS = { user_create: 'users_apply', user_update: 'users_apply' };

export type HandlerKind = 'batch' | 'per-event';

export function usersHandlers(kind: HandlerKind): Record<string, string> {
  return kind === 'batch' ? USERS_BATCH_HANDLERS : USERS_HANDLERS;
}

/** The set-based rebuild statement: the same query as bench/sql/rebuild.sql. */
export const REBUILD_SQL = `insert into users (uuid, name, inserted_at, updated_at)
select distinct on (uuid) uuid, body->>'name', now(), now()
  from ${SCHEMA}.events
 where type in ('user_create', 'user_update')
 order by uuid, id desc`;

/**
 * Installs pgevents and the users projection, with its batch handler or the seed's per-event
 * functions. Without `rebuildStatement` the projection declares no set-based statement, so an
 * online rebuild goes through its handlers. With `projection: false`, no projection at all.
 */
export async function setupPgevents(
  url: string,
  { rebuildStatement = true, handlers: kind = 'batch' as HandlerKind, projection = true } = {},
): Promise<void> {
  // Installed as an application installs it: the migrations, then the definitions of the functions.
  const { openEventStore } = await import('../../src/index.js');
  const store = await openEventStore({ url, schema: SCHEMA, migrate: true });
  await store.close();
  await withClient(url, async (c) => {
    await c.query(benchSql('users.sql'));
    if (!projection) return;
    await c.query(benchSql('pgevents-handlers.sql'));
    const handlers = JSON.stringify(usersHandlers(kind));
    await c.query(`select ${SCHEMA}.define_projection('users', $1, $2, 'uuid', p_rebuild_sql => $3)`, [
      handlers,
      ['users'],
      rebuildStatement ? REBUILD_SQL : null,
    ]);
  });
}

async function handledEvents(c: pg.Client): Promise<number> {
  const r = await c.query<{ n: string }>(
    `select count(*) as n from ${SCHEMA}.events where type in ('user_create', 'user_update')`,
  );
  return Number(r.rows[0]?.n ?? 0);
}

export function bulkLoadPgevents(url: string, source: BulkSource): Promise<Timed> {
  return withClient(url, (c) => timed(() => copyEvents(c, `${SCHEMA}.events`, source), (n) => n));
}

export function replayPgevents(url: string): Promise<Timed> {
  return withClient(url, (c) =>
    timed(
      () => c.query<{ n: string }>(`select ${SCHEMA}.replay_projection('users') as n`),
      (r) => Number(r.rows[0]?.n ?? 0),
    ),
  );
}

/**
 * An online rebuild (`call rebuild_projection('users', true)`: shadow tables, catch-up, swap),
 * through the projection's set-based statement when it has one, else through its handlers.
 */
export function onlineRebuildPgevents(url: string): Promise<Timed> {
  return withClient(url, (c) => timed(() => c.query(`call ${SCHEMA}.rebuild_projection('users', true)`), () => handledEvents(c)));
}

export function countsPgevents(url: string): Promise<Counts> {
  return withClient(url, async (c) => {
    const r = await c.query<{ e: string; u: string }>(
      `select (select count(*) from ${SCHEMA}.events) as e, (select count(*) from public.users) as u`,
    );
    return { events: Number(r.rows[0]?.e ?? 0), users: Number(r.rows[0]?.u ?? 0) };
  });
}
