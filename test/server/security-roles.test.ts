import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, ImmutableEventsError, openEventStore } from '../../src/index.js';
import { countEvents, rejectionOf, usersHandlers, usersReadModelSql } from '../contract/fixtures.js';
import { dropServerDatabase, server } from '../support/engines.js';
import {
  cleanUp,
  connectAs,
  createDatabaseOwnedBy,
  createLoginRoles,
  dropRoles,
  privilegesOf,
  sqlStateOf,
  uniqueRoleName,
  urlAs,
} from '../support/roles.js';
import { databaseUrl } from '../support/server-url.js';

const run = promisify(execFile);
const repoRoot = new URL('../../', import.meta.url).pathname;

/** A store installed by `owner`, with writer and reader roles granted, and a login role granted nothing. */
interface RoleSetup {
  url: string;
  /** The store as its owner sees it. */
  owner: EventStore;
  writer: string;
  reader: string;
  /** A login role that was never granted anything: what PUBLIC may do. */
  stranger: string;
  dispose(): Promise<void>;
}

const SCHEMA = 'pgevents';

/** The relations of the store every kind of role may read (grant_read_access). */
const READ_RELATIONS = [
  'current_events',
  'event_type_declarations',
  'event_types',
  'event_upcasters',
  'events',
  'migrations',
  'personal_data_declarations',
  'projection_handlers',
  'projection_health',
  'projections',
  'rebuild_progress',
  'safe_events',
  'snapshots',
  'stream_lifecycle',
  'streams',
  'subscription_status',
  'subscriptions',
];

/**
 * The functions every kind of role may execute, sorted: the reads, and what the views it reads call
 * (subscription_status, projection_health, rebuild_progress) and the row-level security of
 * subscriptions calls.
 */
const READ_FUNCTIONS = [
  'has_store_access(name,text)',
  'may_manage_subscription(name,name)',
  'parse_cursor(text)',
  'projection_rows(text)',
  'read_all(xid8,bigint,integer,text[])',
  'read_all_after(text,integer,text[])',
  'read_page(xid8,bigint,integer,text[])',
  'read_stream(uuid,bigint,integer,boolean)',
  'rebuild_progress_of(text)',
  'resolve_cursor(text)',
  'reveal_personal_data(text,jsonb)',
  'safe_horizon()',
  'stream_state(uuid)',
  'strict_event_types()',
  'subscription_is_locked(text)',
  'subscription_lock_key(text)',
  'tenants_of(name)',
  'types_read_as_stored(text[])',
  'upcast_body(text,integer,jsonb)',
  'upcast_sources(text[])',
];

/** The users projection, a second projection defined after the grant, and a materialized view. */
async function defineReadModels(owner: EventStore, when: 'before grant' | 'after grant'): Promise<void> {
  if (when === 'before grant') {
    await owner.execScript(usersReadModelSql(SCHEMA));
    await owner.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
    return;
  }
  await owner.execScript(`
    create table public.audit_log (position bigint primary key, stream uuid not null, type text not null);
    create function public.audit_event(e ${SCHEMA}.events) returns void
    language plpgsql set search_path = public, pg_temp
    as $$ begin insert into audit_log (position, stream, type) values (e.id, e.uuid, e.type); end; $$;
  `);
  await owner.defineProjection({
    name: 'audit',
    handlers: { user_create: 'public.audit_event', user_update: 'public.audit_event' },
    tables: ['public.audit_log'],
    streamColumn: 'stream',
  });
  await owner.defineMaterializedView({
    name: 'user_names',
    query: `select uuid, body ->> 'name' as name from ${SCHEMA}.events where type = 'user_create'`,
    schema: 'public',
  });
}

/** `pgevents grant` run as the owner, the way the docs set roles up. */
async function grantWithCli(url: string, writer: string, reader: string): Promise<unknown> {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', '--database-url', url, '--json', 'grant', '--writer', writer, '--reader', reader],
    { cwd: repoRoot },
  );
  return JSON.parse(stdout);
}

/** The owner is a plain role that owns the database and installed the schema itself. */
async function plainOwnerSetup(): Promise<RoleSetup> {
  const ownerRole = uniqueRoleName('owner');
  const [writer, reader, stranger] = [uniqueRoleName('writer'), uniqueRoleName('reader'), uniqueRoleName('other')];
  await createLoginRoles([ownerRole, writer, reader, stranger]);
  let database: string | undefined;
  let owner: EventStore | undefined;
  const dispose = () =>
    cleanUp(
      () => owner?.close(),
      () => database && dropServerDatabase(database),
      () => dropRoles([writer, reader, stranger, ownerRole]),
    );
  try {
    database = await createDatabaseOwnedBy(ownerRole);
    const url = databaseUrl(database);
    owner = await openEventStore({ url: urlAs(url, ownerRole), migrate: true });
    await defineReadModels(owner, 'before grant');
    expect(await grantWithCli(urlAs(url, ownerRole), writer, reader)).toEqual({
      writers: [writer],
      readers: [reader],
      subscribers: [],
      operators: [],
    });
    await defineReadModels(owner, 'after grant');
    return { url, owner, writer, reader, stranger, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** The owner is the superuser the test server is reached as (a common development setup). */
async function superuserOwnerSetup(): Promise<RoleSetup> {
  const t = await server.createStore();
  const [writer, reader, stranger] = [uniqueRoleName('writer'), uniqueRoleName('reader'), uniqueRoleName('other')];
  const dispose = () =>
    cleanUp(
      () => t.dispose(),
      () => dropRoles([writer, reader, stranger]),
    );
  try {
    await createLoginRoles([writer, reader, stranger]);
    await defineReadModels(t.store, 'before grant');
    await t.store.grant({ writers: [writer], readers: [reader] });
    await defineReadModels(t.store, 'after grant');
    return { url: t.url!, owner: t.store, writer, reader, stranger, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** Everything a writer or a reader must not be able to do, each expected to fail with 42501. */
function deniedStatements(existingEventId: string): [string, string][] {
  return [
    ['backdate an event', `insert into ${SCHEMA}.events (type, uuid, body, inserted_at) values ('user_create', gen_random_uuid(), '{}', '2001-01-01')`],
    [
      'choose the position of an event',
      `insert into ${SCHEMA}.events (id, type, uuid, body) overriding system value values (1, 'user_create', gen_random_uuid(), '{}')`,
    ],
    ['choose the transaction id of an event', `insert into ${SCHEMA}.events (type, uuid, body, transaction_id) values ('user_create', gen_random_uuid(), '{}', '1')`],
    ['update events', `update ${SCHEMA}.events set body = '{}'`],
    ['update events matching no row', `update ${SCHEMA}.events set body = '{}' where false`],
    ['delete events', `delete from ${SCHEMA}.events`],
    ['truncate events', `truncate ${SCHEMA}.events`],
    [
      'overwrite an event with an upsert',
      `insert into ${SCHEMA}.events (type, uuid, body, event_id) values ('user_update', gen_random_uuid(), '{}', '${existingEventId}')
       on conflict (event_id) do update set body = excluded.body`,
    ],
    ['disable the immutability trigger', `alter table ${SCHEMA}.events disable trigger events_immutable`],
    ['disable every trigger on events', `alter table ${SCHEMA}.events disable trigger all`],
    ['drop a projection trigger', `drop trigger project_users on ${SCHEMA}.events`],
    ['add a trigger to events', `create trigger forged before insert on ${SCHEMA}.events for each row execute function ${SCHEMA}.tg_events__assign_version()`],
    ['skip triggers with session_replication_role', `set session_replication_role = replica`],
    ['add a column to events', `alter table ${SCHEMA}.events add column forged int`],
    ['change a stream version', `update ${SCHEMA}.streams set version = 0`],
    ['insert a stream row', `insert into ${SCHEMA}.streams (stream, version) values (gen_random_uuid(), 5)`],
    ['delete stream rows', `delete from ${SCHEMA}.streams`],
    ['lock stream rows', `select * from ${SCHEMA}.streams for update`],
    ['lock the events table exclusively', `lock table ${SCHEMA}.events in exclusive mode`],
    ['move the position sequence', `select setval('${SCHEMA}.events_id_seq', 1)`],
    ['take positions from the sequence', `select nextval('${SCHEMA}.events_id_seq')`],
    ['insert into a read model', `insert into public.users (uuid, name, version) values (gen_random_uuid(), 'forged', 1)`],
    ['update a read model', `update public.users set name = 'forged'`],
    ['delete from a read model', `delete from public.users`],
    ['truncate a read model', `truncate public.users`],
    ['insert into a read model defined after the grant', `insert into public.audit_log values (-1, gen_random_uuid(), 'forged')`],
    ['call a (uuid, jsonb) projection handler', `select public.project_user_create(gen_random_uuid(), '{"name": "forged"}')`],
    ['call a whole-event projection handler', `select public.audit_event(e) from ${SCHEMA}.events e limit 1`],
    ['call a generated replay function', `select * from ${SCHEMA}."projection_apply__users"(0, 1000, null, null)`],
    ['replay a projection', `select ${SCHEMA}.replay_projection('users')`],
    ['start a replay', `select ${SCHEMA}.replay_start('users')`],
    ['step a replay', `select * from ${SCHEMA}.replay_step('users', 0, 10)`],
    ['rebuild a projection', `call ${SCHEMA}.rebuild_projection('users')`],
    ['start a rebuild', `select ${SCHEMA}.rebuild_start('users')`],
    ['refresh a materialized view', `select ${SCHEMA}.refresh_materialized_view('user_names')`],
    ['refresh the view directly', `refresh materialized view public.user_names`],
    ['define a projection', `select ${SCHEMA}.define_projection('forged', '{"user_create": "public.project_user_create"}')`],
    ['drop a projection', `select ${SCHEMA}.drop_projection('users')`],
    ['grant itself writer access', `select ${SCHEMA}.grant_writer(current_user)`],
    ['register itself as a writer', `insert into ${SCHEMA}.roles (role_name, access) values (current_user, 'writer')`],
    ['change a projection handler in the registry', `update ${SCHEMA}.projection_handlers set handler = 'public.forged'`],
    ['edit the migrations ledger', `delete from ${SCHEMA}.migrations`],
    ['create a table in the store schema', `create table ${SCHEMA}.shadow (id int)`],
    ['create a function in the store schema', `create function ${SCHEMA}.append_events(p uuid) returns int language sql as 'select 1'`],
    ['comment on the events table', `comment on table ${SCHEMA}.events is 'forged'`],
  ];
}

function describeRoles(label: string, setupFn: () => Promise<RoleSetup>): void {
  describe(`least-privilege roles (owner: ${label})`, () => {
    let s: RoleSetup;
    let writerStore: EventStore;
    let readerStore: EventStore;
    let writerClient: pg.Client;
    let readerClient: pg.Client;
    let strangerClient: pg.Client;
    const stream = randomUUID();
    let existingEventId: string;

    async function snapshot() {
      return {
        events: await countEvents(s.owner),
        streams: await s.owner.query(`select stream::text, version::int from ${SCHEMA}.streams order by stream`),
        users: await s.owner.query(`select uuid::text, name, version::int from public.users order by uuid`),
        audit: await s.owner.query(`select position::int, stream::text, type from public.audit_log order by position`),
        triggers: await s.owner.query(`select tgname, tgenabled from pg_trigger where tgrelid = '${SCHEMA}.events'::regclass order by tgname`),
        projections: await s.owner.query(`select name, kind from ${SCHEMA}.projections order by name`),
      };
    }

    beforeAll(async () => {
      s = await setupFn();
      const appended = await s.owner.append(stream, [{ type: 'user_create', body: { name: 'Ada' } }]);
      existingEventId = appended.events[0]!.eventId;
      await s.owner.refreshMaterializedView('user_names');
      writerStore = await openEventStore({ url: urlAs(s.url, s.writer), poolSize: 2 });
      readerStore = await openEventStore({ url: urlAs(s.url, s.reader), poolSize: 2 });
      writerClient = await connectAs(s.url, s.writer);
      readerClient = await connectAs(s.url, s.reader);
      strangerClient = await connectAs(s.url, s.stranger);
    });
    afterAll(async () => {
      await cleanUp(
        () => Promise.all([writerClient, readerClient, strangerClient].map((client) => client?.end())),
        () => Promise.all([writerStore, readerStore].map((store) => store?.close())),
        () => s?.dispose(),
      );
    });

    it('records the writer and the reader as known roles', async () => {
      const rows = await s.owner.query(`select role_name::text, access from ${SCHEMA}.roles order by access`);
      expect(rows).toEqual([
        { role_name: s.reader, access: 'reader' },
        { role_name: s.writer, access: 'writer' },
      ]);
    });

    it('lets the writer append through the API and through a plain INSERT, and the projections follow', async () => {
      const user = randomUUID();
      const result = await writerStore.append(user, [{ type: 'user_create', body: { name: 'Grace' } }], {
        expectedVersion: 'no_stream',
      });
      expect(result.nextVersion).toBe(1);
      await writerStore.query(`insert into ${SCHEMA}.events (type, uuid, body) values ('user_update', $1, '{"name": "Grace H."}')`, [
        user,
      ]);
      // Besides type, stream and body, a writer may give an event id and metadata (and a version,
      // which is checked like an expected version).
      await writerStore.query(
        `insert into ${SCHEMA}.events (uuid, type, body, metadata, event_id)
         values ($1, 'user_login', '{}', '{"via": "psql"}', gen_random_uuid())`,
        [user],
      );
      expect((await writerStore.readStream(user)).map((event) => [event.version, event.type])).toEqual([
        [1, 'user_create'],
        [2, 'user_update'],
        [3, 'user_login'],
      ]);
      const [row] = await s.owner.query(`select name, version::int as version from public.users where uuid = $1`, [user]);
      expect(row).toEqual({ name: 'Grace H.', version: 2 });
      const audit = await s.owner.query(`select type from public.audit_log where stream = $1 order by position`, [user]);
      expect(audit.map((entry) => entry.type)).toEqual(['user_create', 'user_update']);
    });

    it('lets the writer and the reader read events, streams, and read models defined before and after the grant', async () => {
      for (const store of [writerStore, readerStore]) {
        expect((await store.readStream(stream)).map((event) => event.type)).toEqual(['user_create']);
        // Whether readAll already shows the event depends on transactions elsewhere in the cluster
        // (it withholds events until every older transaction has ended); that it may run is the point.
        expect(Array.isArray((await store.readAll({ limit: 10 })).events)).toBe(true);
        expect(await store.query(`select name from public.users where uuid = $1`, [stream])).toEqual([{ name: 'Ada' }]);
        expect((await store.query(`select count(*)::int as n from public.audit_log`))[0]).toBeDefined();
        expect(await store.query(`select name from public.user_names where uuid = $1`, [stream])).toEqual([{ name: 'Ada' }]);
        expect(await store.query(`select version::int as version from ${SCHEMA}.streams where stream = $1`, [stream])).toEqual([
          { version: 1 },
        ]);
      }
    });

    it("gives the writer and the reader the owner's status: subscriptions, projections' health and rebuilds", async () => {
      await s.owner.query(`select 1 from ${SCHEMA}.create_subscription('owners-mailer', 'start')`);
      const owners = await s.owner.status();
      for (const store of [writerStore, readerStore]) {
        const status = await store.status();
        expect(status.events).toBeGreaterThanOrEqual(1);
        expect(status.eventTypes.map((type) => type.type)).toContain('user_create');
        expect(status.subscriptions.map((subscription) => [subscription.name, subscription.checkpoint])).toEqual([['owners-mailer', '0-0']]);
        expect(status.projections.map((projection) => [projection.name, projection.state])).toEqual(
          owners.projections.map((projection) => [projection.name, projection.state]),
        );
        expect(status.projections.map((projection) => projection.state)).not.toContain('unknown');
        expect(await store.rebuildProgress()).toEqual(await s.owner.rebuildProgress());
      }
    });

    it('refuses the reader an append, through the API and through a plain INSERT', async () => {
      const error = await rejectionOf(readerStore.append(randomUUID(), [{ type: 'user_create', body: { name: 'Eve' } }]));
      expect(error).toMatchObject({ code: '42501' });
      expect(await sqlStateOf(readerClient, `insert into ${SCHEMA}.events (type, uuid, body) values ('user_create', gen_random_uuid(), '{}')`)).toBe(
        '42501',
      );
    });

    it('refuses the writer a replay through the API with PostgreSQL\'s insufficient_privilege error', async () => {
      const error = await rejectionOf(writerStore.replay('users'));
      expect(error).toMatchObject({ code: '42501' });
    });

    describe('refused to the writer and to the reader', () => {
      let before: Awaited<ReturnType<typeof snapshot>>;
      beforeAll(async () => {
        before = await snapshot();
      });

      for (const who of ['writer', 'reader'] as const) {
        for (const [what, sql] of deniedStatements('00000000-0000-0000-0000-000000000000')) {
          it(`refuses the ${who}: ${what}`, async () => {
            const client = who === 'writer' ? writerClient : readerClient;
            expect(await sqlStateOf(client, sql.replace('00000000-0000-0000-0000-000000000000', existingEventId))).toBe('42501');
          });
        }
      }

      it('leaves events, streams, read models, triggers and projections as they were', async () => {
        expect(await snapshot()).toEqual(before);
      });
    });

    it('grants the writer and the reader exactly their privileges on the store schema and the read models', async () => {
      const readModels = ['public.audit_log', 'public.user_names', 'public.users'];
      const handlers = [
        'public.project_user_create(uuid, jsonb)',
        `public.project_user_update(${SCHEMA}.events)`,
        `public.audit_event(${SCHEMA}.events)`,
      ];
      for (const role of [s.writer, s.reader]) {
        const privileges = await privilegesOf((sql, params) => s.owner.query(sql, params), role, SCHEMA, readModels, handlers);
        expect(privileges.relations).toEqual([...READ_RELATIONS, ...readModels].map((relation) => `${relation}: select`).sort());
        expect(privileges.columns).toEqual(
          role === s.writer ? ['body', 'event_id', 'metadata', 'type', 'type_version', 'uuid', 'version'].map((column) => `events.${column}: insert`) : [],
        );
        expect(privileges.functions).toEqual(
          // uuid_v7() is event_id's default, which runs with the inserting role's rights.
          role === s.writer
            ? ['append_events(uuid,jsonb,text)', 'import_events(regclass)', 'lock_streams(uuid[])', 'uuid_v7()', ...READ_FUNCTIONS].sort()
            : READ_FUNCTIONS,
        );
      }
    });

    it('refuses a login role that was never granted anything even a read', async () => {
      expect(await sqlStateOf(strangerClient, `select count(*) from ${SCHEMA}.events`)).toBe('42501');
      expect(await sqlStateOf(strangerClient, `select * from ${SCHEMA}.read_stream($1)`, [stream])).toBe('42501');
      expect(await sqlStateOf(strangerClient, `select * from ${SCHEMA}.append_events($1, '[{"type": "x", "body": {}}]')`, [stream])).toBe(
        '42501',
      );
      expect(await sqlStateOf(strangerClient, `select * from public.users`)).toBe('42501');
    });

    it('gives even the owner an error, not silence, for UPDATE, DELETE and TRUNCATE of events', async () => {
      const before = await countEvents(s.owner);
      for (const sql of [
        `update ${SCHEMA}.events set body = '{}'`,
        `update ${SCHEMA}.events set body = '{}' where false`,
        `delete from ${SCHEMA}.events`,
        `delete from ${SCHEMA}.events where false`,
        `truncate ${SCHEMA}.events`,
        `truncate ${SCHEMA}.events cascade`,
      ]) {
        const error = await rejectionOf(s.owner.query(sql));
        expect(error, sql).toBeInstanceOf(ImmutableEventsError);
      }
      expect(await countEvents(s.owner)).toBe(before);
    });

    it('lets the owner replay what the writer appended', async () => {
      const before = await s.owner.query(`select uuid::text, name, version::int from public.users order by uuid`);
      await s.owner.replay('users');
      expect(await s.owner.query(`select uuid::text, name, version::int from public.users order by uuid`)).toEqual(before);
    });
  });
}

describe.skipIf(server.unavailable !== null)('security: roles (server)', () => {
  describeRoles('a plain role that owns the database, grants through `pgevents grant`', plainOwnerSetup);
  describeRoles('the superuser, grants through store.grant()', superuserOwnerSetup);
});
