import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CatalogueSession, describeSchema } from '../../scripts/lib/catalogue.js';
import type { EventStore, MigrateResult } from '../../src/index.js';
import { migrationFiles } from '../../src/migrations/files.js';
import { usersHandlers, usersReadModelSql } from '../contract/fixtures.js';
import { cleanUp } from './roles.js';

/** The schema of the stores the upgrade suite installs. */
const SCHEMA = 'pgevents';

/** A migration file as a release shipped it: byte-identical to what stores in the field applied. */
export interface ReleasedMigration {
  id: number;
  name: string;
  /** The SQL with `{{schema}}` in place of the schema name. */
  template: string;
  /** sha256 of the template, as the release recorded it in the ledger. */
  checksum: string;
}

const releasedDir = new URL('../fixtures/released-migrations/', import.meta.url);

let cached: ReleasedMigration[] | undefined;

/** The released migrations 0001…0006 of test/fixtures/released-migrations, in order. */
export function releasedMigrations(): ReleasedMigration[] {
  cached ??= readdirSync(releasedDir)
    .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
    .sort()
    .map((name) => {
      const template = readFileSync(new URL(name, releasedDir), 'utf8');
      return {
        id: Number.parseInt(name.slice(0, 4), 10),
        name,
        template,
        checksum: createHash('sha256').update(template).digest('hex'),
      };
    });
  return cached;
}

/** The newest released state (the highest released migration number). */
export function newestReleasedState(): number {
  return releasedMigrations().at(-1)?.id ?? 0;
}

/** One connection that runs scripts (several statements) and parameterised statements. */
export interface SqlSession {
  script(sql: string): Promise<void>;
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
}

/** A `pg.Client` as a session. */
export function clientSession(client: pg.Client): SqlSession {
  return {
    async script(sql) {
      await client.query(sql);
    },
    async query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []) {
      return (await client.query(sql, params)).rows as R[];
    },
  };
}

/** A PGlite instance as a session. */
export function pgliteSession(pglite: PGlite): SqlSession {
  return {
    async script(sql) {
      await pglite.exec(sql);
    },
    async query<R extends Record<string, unknown>>(sql: string, params: unknown[] = []) {
      return (await pglite.query<R>(sql, params)).rows;
    },
  };
}

/**
 * Installs the released migrations 0001…`upTo` into `schema` by hand, as the pgevents of that
 * release did: the ledger first (as its runner created it), then each migration in a transaction
 * of its own, with its ledger row (name and the checksum of the unrendered file).
 */
export async function installReleasedMigrations(session: SqlSession, schema: string, upTo: number): Promise<void> {
  await session.script(`
    create schema if not exists ${schema};
    create table if not exists ${schema}.migrations (
      id int primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    );`);
  for (const file of releasedMigrations().filter((candidate) => candidate.id <= upTo)) {
    await session.script('begin');
    try {
      await session.script(file.template.replaceAll('{{schema}}', schema));
      await session.query(`insert into ${schema}.migrations (id, name, checksum) values ($1, $2, $3)`, [
        file.id,
        file.name,
        file.checksum,
      ]);
      await session.script('commit');
    } catch (error) {
      await session.script('rollback');
      throw error;
    }
  }
}

/** The writer and reader roles a store at state 4 or later has granted (grant_writer, grant_reader). */
export interface StoreRoles {
  writer: string;
  reader: string;
}

/** The handlers of the batch projection `user_counts` (state 6 and later). */
export const USER_COUNTS_SQL = (schema: string) => `
  create table public.user_event_counts (
    uuid uuid primary key,
    events int not null
  );
  create function public.count_user_events(p_events ${schema}.events[]) returns void
  language plpgsql
  set search_path = public, pg_temp
  as $$
  begin
    insert into user_event_counts as c (uuid, events)
    select e.uuid, count(*) from unnest(p_events) e group by e.uuid
    on conflict (uuid) do update set events = c.events + excluded.events;
  end;
  $$;
`;

/** The handlers of `user_counts`, as given to define_projection. */
export const userCountsHandlers = (schema: string) => ({
  user_create: `public.count_user_events(${schema}.events[])`,
  user_update: `public.count_user_events(${schema}.events[])`,
});

/** The query of the materialized view projection `user_names` (state 2 and later). */
export const USER_NAMES_QUERY = (schema: string) =>
  `select uuid, body ->> 'name' as name from ${schema}.events where type = 'user_create'`;

/** What {@link populateReleasedStore} put in, for the assertions after the upgrade. */
export interface ReleasedStoreContents {
  state: number;
  /** A stream appended with append_events, whose first event carries an id and metadata. */
  ada: string;
  /** A stream written with plain INSERTs. */
  grace: string;
  /** The checkpoint saved for the subscription `mailer` (state 3 and later): `transaction_id-position`. */
  checkpoint: string | null;
}

/**
 * Puts into a store at released state `state` what such a store holds, through the SQL API of that
 * state (its functions, as a client of that release would call them): events appended with
 * append_events and plain INSERT (every state); the writer and reader roles granted before the
 * read models were defined (4+); the trigger projection `users` over public.users (2+) and the
 * batch projection `user_counts` (6); the materialized view `public.user_names`, refreshed and then
 * stale (2+); the subscription `mailer` with its checkpoint advanced past ada's first event (3+); an
 * online rebuild of `users` started and stepped once, not swapped, with events appended since (5+);
 * an import of two streams (6). The users read model is the contract suite's (test/contract/fixtures).
 */
export async function populateReleasedStore(
  session: SqlSession,
  schema: string,
  state: number,
  roles: StoreRoles | null,
): Promise<ReleasedStoreContents> {
  const ada = randomUUID();
  const grace = randomUUID();
  if (state >= 4) {
    if (!roles) throw new Error(`a store at state ${state} needs a writer and a reader role`);
    await session.query(`select ${schema}.grant_writer($1)`, [roles.writer]);
    await session.query(`select ${schema}.grant_reader($1)`, [roles.reader]);
  }
  if (state >= 2) {
    await session.script(usersReadModelSql(schema));
    await session.query(`select ${schema}.define_projection('users', $1::jsonb, '{public.users}', 'uuid')`, [
      JSON.stringify(usersHandlers),
    ]);
  }
  if (state >= 6) {
    await session.script(USER_COUNTS_SQL(schema));
    await session.query(`select ${schema}.define_projection('user_counts', $1::jsonb, '{public.user_event_counts}', 'uuid')`, [
      JSON.stringify(userCountsHandlers(schema)),
    ]);
  }

  const [first] = await session.query<{ position: string }>(
    `select "position"::text as position from ${schema}.append_events($1, $2::jsonb, 'no_stream')`,
    [
      ada,
      JSON.stringify([
        { type: 'user_create', body: { name: 'Ada' }, metadata: { source: 'released' }, id: randomUUID() },
        { type: 'user_update', body: { name: 'Ada L.' } },
      ]),
    ],
  );
  await session.query(`insert into ${schema}.events (type, uuid, body) values ('user_create', $1, '{"name": "Grace"}')`, [grace]);
  await session.query(`insert into ${schema}.events (type, uuid, body, metadata) values ('user_login', $1, '{}', '{"ip": "::1"}')`, [
    grace,
  ]);

  if (state >= 2) {
    await session.query(`select ${schema}.define_materialized_view('user_names', $1, '{uuid}', 'public')`, [USER_NAMES_QUERY(schema)]);
    await session.query(`select ${schema}.refresh_materialized_view('user_names')`);
    await session.query(`select * from ${schema}.append_events($1, '[{"type": "user_create", "body": {"name": "Edsger"}}]')`, [
      randomUUID(),
    ]);
  }

  let checkpoint: string | null = null;
  if (state >= 3) {
    await session.query(`select 1 from ${schema}.create_subscription('mailer', 'start', '{user_create}')`);
    const [event] = await session.query<{ transaction_id: string; position: string }>(
      `select transaction_id::text as transaction_id, id::text as position from ${schema}.events where id = $1`,
      [first?.position],
    );
    if (!event) throw new Error('the first event is missing');
    const [saved] = await session.query<{ saved: boolean }>(
      `select ${schema}.save_subscription_checkpoint('mailer', '0', 0, $1::xid8, $2) as saved`,
      [event.transaction_id, event.position],
    );
    if (saved?.saved !== true) throw new Error('the checkpoint of mailer was not saved');
    checkpoint = `${event.transaction_id}-${event.position}`;
  }

  if (state >= 5) {
    await session.query(`select 1 from ${schema}.rebuild_start('users')`);
    const [step] = await session.query<{ phase: string }>(`select phase from ${schema}.rebuild_step('users', 1)`);
    if (step?.phase !== 'building') throw new Error(`the rebuild of users is ${step?.phase}, not building, after one step`);
    await session.query(`select * from ${schema}.append_events($1, '[{"type": "user_update", "body": {"name": "Countess"}}]', '2')`, [ada]);
  }

  if (state >= 6) {
    const [alan, barbara] = [randomUUID(), randomUUID()];
    await session.script(
      `create temporary table import_source (ord bigint, uuid uuid, type text, body jsonb, metadata jsonb, event_id uuid)`,
    );
    await session.query(
      `insert into import_source values
         (1, $1, 'user_create', '{"name": "Alan"}', null, null),
         (2, $2, 'user_create', '{"name": "Barbara"}', '{"source": "import"}', gen_random_uuid()),
         (3, $1, 'user_update', '{"name": "Alan T."}', null, null)`,
      [alan, barbara],
    );
    const [imported] = await session.query<{ imported: string }>(
      `select imported::text as imported from ${schema}.import_events('import_source')`,
    );
    if (imported?.imported !== '3') throw new Error(`the import stored ${imported?.imported} events, not 3`);
    await session.script('drop table import_source');
  }
  return { state, ada, grace, checkpoint };
}

/**
 * Makes in a fresh store, with the current API, the projections, view, subscription and grants that
 * {@link populateReleasedStore} makes in a store at `state` (not the events, the import or the
 * rebuild, which leave no trace in the schema): its schema must then be the upgraded store's.
 */
export async function populateFreshStore(store: EventStore, state: number, roles: StoreRoles | null): Promise<void> {
  if (state >= 4) {
    if (!roles) throw new Error(`a store at state ${state} needs a writer and a reader role`);
    // The other order than populateReleasedStore's: the order of grants must not show in the catalogue.
    await store.grant({ readers: [roles.reader] });
    await store.grant({ writers: [roles.writer] });
  }
  if (state >= 2) {
    await store.execScript(usersReadModelSql(store.schema));
    await store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
  }
  if (state >= 6) {
    await store.execScript(USER_COUNTS_SQL(store.schema));
    await store.defineProjection({
      name: 'user_counts',
      handlers: userCountsHandlers(store.schema),
      tables: ['public.user_event_counts'],
      streamColumn: 'uuid',
    });
  }
  if (state >= 2) {
    await store.defineMaterializedView({ name: 'user_names', query: USER_NAMES_QUERY(store.schema), uniqueColumns: ['uuid'], schema: 'public' });
  }
  if (state >= 3) {
    await store.query(`select 1 from ${store.schema}.create_subscription('mailer', 'start', '{user_create}')`);
  }
}

type Query = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

/**
 * Everything a store at `state` holds, as comparable text: events and streams (every column), the
 * projections' registry, read models and view, subscriptions, rebuilds, roles and the ledger's
 * released rows. Columns that a later migration adds are left out, so the same query runs before
 * and after an upgrade.
 */
export async function storeContents(query: Query, schema: string, state: number): Promise<Record<string, unknown[]>> {
  const contents: Record<string, unknown[]> = {
    events: await query(
      `select id::text, uuid::text, version::text, type, body::text, metadata::text, event_id::text,
              inserted_at::text, transaction_id::text
         from ${schema}.events order by id`,
    ),
    streams: await query(`select stream::text, version::text from ${schema}.streams order by stream`),
    migrations: await query(`select id, name, checksum, applied_at::text from ${schema}.migrations where id <= $1 order by id`, [
      state,
    ]),
  };
  if (state >= 2) {
    contents.projections = await query(
      `select name, kind, version, tables, stream_column, view_query, defined_at::text, last_replayed_at::text,
              last_refreshed_at::text, refreshed_position::text
         from ${schema}.projections order by name`,
    );
    contents.handlers = await query(
      `select projection, event_type, handler, takes_event from ${schema}.projection_handlers order by projection, event_type`,
    );
    contents.users = await query(`select uuid::text, name, version::text, updated_at::text from public.users order by uuid`);
    contents.userNames = await query(`select uuid::text, name from public.user_names order by uuid`);
  }
  if (state >= 3) {
    contents.subscriptions = await query(
      `select name, kind, transaction_id::text, "position"::text, state, types, tables, attempts, checkpoint_at::text
         from ${schema}.subscriptions order by name`,
    );
  }
  if (state >= 4) {
    contents.roles = await query(`select role_name::text, access from ${schema}.roles order by role_name`);
  }
  if (state >= 5) {
    contents.builtVersions = await query(`select name, built_version from ${schema}.projections order by name`);
    contents.rebuilds = await query(
      `select projection, phase, path, shadow_schema::text, fingerprint, version, round, prev_snapshot::text, snapshot::text,
              after_position::text, applied::text, total::text, error::text, started_at::text, finished_at::text
         from ${schema}.rebuilds order by projection`,
    );
  }
  if (state >= 6) {
    contents.userEventCounts = await query(`select uuid::text, events from public.user_event_counts order by uuid`);
  }
  return contents;
}

/** A database of one engine for the upgrade suite, reached as its owner through one connection. */
export interface UpgradeDatabase {
  /** The owner's connection: installs the released migrations and fills the store by SQL. */
  session: SqlSession;
  /** The same connection, for the catalogue description. */
  catalogue: CatalogueSession;
  /** Opens the store with the current code (without migrating). */
  open(): Promise<EventStore>;
  /** Runs `fn` with a connection (or the session) logged in as, or switched to, `role`. */
  asRole<T>(role: string, fn: (session: SqlSession) => Promise<T>): Promise<T>;
  dispose(): Promise<void>;
}

/** What the upgrade suite needs of an engine. */
export interface UpgradeEngine {
  name: 'embedded' | 'server';
  /** Why the suite is skipped, or null. */
  unavailable: string | null;
  /** Roles for one released state: made unique where roles are shared (a server's cluster). */
  createRoles(): Promise<StoreRoles>;
  dropRoles(roles: StoreRoles): Promise<void>;
  /** An empty database, where the roles exist. */
  emptyDatabase(roles: StoreRoles): Promise<UpgradeDatabase>;
  /** A database migrated by the current code (a fresh install), where the roles exist. */
  freshDatabase(roles: StoreRoles): Promise<UpgradeDatabase>;
}

/**
 * For every released state: installs it by hand, fills it (populateReleasedStore), upgrades it with
 * the current code, and checks that nothing was lost, that the projections, view, subscription,
 * grants and rebuild still work, and that the schema is the one a fresh install with the same
 * definitions has (the catalogue description, generated projection code and grants included).
 */
export function upgradeSuite(engine: UpgradeEngine): void {
  describe.skipIf(engine.unavailable !== null)(`upgrading a store of each released state (${engine.name})`, () => {
    describe.each(releasedMigrations().map((file) => file.id))('from released state %i', (state) => {
      let roles: StoreRoles | undefined;
      let upgraded: UpgradeDatabase | undefined;
      let fresh: UpgradeDatabase | undefined;
      let store: EventStore;
      let released: ReleasedStoreContents;
      let migrated: MigrateResult;
      let before: Record<string, unknown[]>;
      let after: Record<string, unknown[]>;
      let upgradedSchema: string[];
      let freshSchema: string[];

      beforeAll(async () => {
        roles = await engine.createRoles();
        upgraded = await engine.emptyDatabase(roles);
        await installReleasedMigrations(upgraded.session, SCHEMA, state);
        released = await populateReleasedStore(upgraded.session, SCHEMA, state, roles);
        before = await storeContents(upgraded.session.query, SCHEMA, state);

        store = await upgraded.open();
        migrated = await store.migrate();
        after = await storeContents((sql, params) => store.query(sql, params), SCHEMA, state);
        upgradedSchema = (await describeSchema(upgraded.catalogue, SCHEMA)).split('\n');

        fresh = await engine.freshDatabase(roles);
        const freshStore = await fresh.open();
        try {
          await populateFreshStore(freshStore, state, roles);
        } finally {
          await freshStore.close();
        }
        freshSchema = (await describeSchema(fresh.catalogue, SCHEMA)).split('\n');
      });
      afterAll(async () => {
        await cleanUp(
          () => store?.close(),
          () => upgraded?.dispose(),
          () => fresh?.dispose(),
          () => roles && engine.dropRoles(roles),
        );
      });

      it('keeps every event, stream, read-model row, checkpoint and rebuild as they were', () => {
        expect(after).toEqual(before);
      });

      it('accepts the released ledger and applies the later migrations', async () => {
        expect(migrated.applied).toEqual(migrationFiles().filter((file) => file.id > state).map((file) => file.name));
        const ledger = await store.query<{ id: number; checksum: string }>(
          `select id, checksum from ${SCHEMA}.migrations order by id`,
        );
        expect(ledger.map((row) => Number(row.id))).toEqual(migrationFiles().map((file) => file.id));
        expect(ledger.filter((row) => Number(row.id) <= state).map((row) => row.checksum)).toEqual(
          releasedMigrations().filter((file) => file.id <= state).map((file) => file.checksum),
        );
        expect((await store.migrate()).applied).toEqual([]);
      });

      it('has the schema of a fresh install with the same projections, view, subscription and grants', () => {
        expect(upgradedSchema, `the upgraded schema (+) differs from a fresh install's (-)`).toEqual(freshSchema);
      });

      it.runIf(state >= 2)('keeps applying appends to the projections and refreshing the view', async () => {
        await store.append(released.ada, [{ type: 'user_update', body: { name: 'Augusta' } }]);
        expect(await store.query('select name from public.users where uuid = $1', [released.ada])).toEqual([{ name: 'Augusta' }]);
        await store.refreshMaterializedView('user_names');
        expect((await store.status()).projections.find((projection) => projection.name === 'user_names')).toMatchObject({
          staleEvents: 0,
        });
        expect((await store.verify('users')).equal).toBe(true);
        if (state >= 6) expect((await store.verify('user_counts')).equal).toBe(true);
      });

      it.runIf(state >= 3)('keeps the subscription at its checkpoint', async () => {
        const mailer = (await store.listSubscriptions()).find((subscription) => subscription.name === 'mailer');
        expect(mailer).toMatchObject({ checkpoint: released.checkpoint, types: ['user_create'], state: 'stopped' });
      });

      it.runIf(state >= 4)('lets the writer append and import, and the reader read, and nothing more', async () => {
        const { writer, reader } = roles!;
        const stream = randomUUID();
        await upgraded!.asRole(writer, async (session) => {
          await session.query(`select * from ${SCHEMA}.append_events($1, '[{"type": "user_create", "body": {"name": "Wendy"}}]', 'no_stream')`, [
            stream,
          ]);
          await session.query(`insert into ${SCHEMA}.events (type, uuid, body) values ('user_update', $1, '{"name": "Wendy W."}')`, [stream]);
          await session.script(`create temporary table writer_import (ord bigint, uuid uuid, type text, body jsonb, metadata jsonb, event_id uuid)`);
          await session.query(`insert into writer_import values (1, $1, 'user_create', '{"name": "Ivy"}', null, null)`, [randomUUID()]);
          const [imported] = await session.query<{ imported: string }>(
            `select imported::text as imported from ${SCHEMA}.import_events('writer_import')`,
          );
          expect(imported?.imported).toBe('1');
          await session.script('drop table writer_import');
          expect(await sqlStateOf(session, `update ${SCHEMA}.events set body = '{}' where uuid = $1`, [stream])).toBe('42501');
          expect(await sqlStateOf(session, `delete from public.users where uuid = $1`, [stream])).toBe('42501');
        });
        expect(await store.query('select name, version::int as version from public.users where uuid = $1', [stream])).toEqual([
          { name: 'Wendy W.', version: 2 },
        ]);
        await upgraded!.asRole(reader, async (session) => {
          const [counts] = await session.query<{ events: string; users: string; names: string }>(
            `select (select count(*) from ${SCHEMA}.events)::text as events, (select count(*) from public.users)::text as users,
                    (select count(*) from public.user_names)::text as names`,
          );
          expect(Number(counts?.events)).toBeGreaterThan(0);
          expect(Number(counts?.users)).toBeGreaterThan(0);
          expect(Number(counts?.names)).toBeGreaterThan(0);
          expect(await session.query(`select version::int as version from ${SCHEMA}.read_stream($1)`, [stream])).toEqual([
            { version: 1 },
            { version: 2 },
          ]);
          expect(await sqlStateOf(session, `select * from ${SCHEMA}.append_events($1, '[{"type": "x", "body": {}}]')`, [randomUUID()])).toBe(
            '42501',
          );
        });
      });

      it.runIf(state >= 5)('finishes the rebuild begun before the upgrade', async () => {
        expect((await store.rebuildProgress('users'))[0]).toMatchObject({ phase: 'building', applied: 1 });
        const live = await store.query('select * from public.users order by uuid');
        await store.rebuild('users');
        expect((await store.rebuildProgress('users'))[0]).toMatchObject({ phase: 'done' });
        expect(await store.query('select * from public.users order by uuid')).toEqual(live);
        expect((await store.verify('users')).equal).toBe(true);
        expect((await store.status()).projections.find((projection) => projection.name === 'users')).toMatchObject({ state: 'live' });
        // The swapped-in tables keep the read models' grants, and the shadow schema is gone.
        expect(
          (await describeSchema(upgraded!.catalogue, SCHEMA)).split('\n'),
          `the schema after the rebuild (+) differs from a fresh install's (-)`,
        ).toEqual(freshSchema);
        expect(await store.query(`select nspname from pg_namespace where nspname like $1`, [`${SCHEMA}\\_rebuild\\_%`])).toEqual([]);
      });
    });
  });
}

/**
 * What a statement failed with (its SQLSTATE), or null when it succeeded; in a transaction that is
 * always rolled back.
 */
async function sqlStateOf(session: SqlSession, sql: string, params: unknown[] = []): Promise<string | null> {
  await session.script('begin');
  try {
    await session.query(sql, params);
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? 'no sqlstate';
  } finally {
    await session.script('rollback');
  }
}
