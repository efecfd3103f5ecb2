import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, openEventStore, ProjectionDefinitionError } from '../../src/index.js';
import { countEvents, rejectionOf, usersHandlers, usersReadModelSql } from '../contract/fixtures.js';
import { dropServerDatabase, server } from '../support/engines.js';
import { cleanUp, connectAs, createDatabaseOwnedBy, createLoginRoles, dropRoles, uniqueRoleName, urlAs } from '../support/roles.js';
import { databaseUrl } from '../support/server-url.js';

const SCHEMA = 'pgevents';

/**
 * Functions and operators that the event log's triggers, append_events and the generated projection
 * code use, shadowed in a schema the writer owns. Each raises when called, so an append that
 * succeeds proves that none of them ran.
 */
function shadowingSql(evil: string): string {
  const raising = (signature: string, returns: string) => `
    create function ${evil}.${signature} returns ${returns} language plpgsql
    as $$ begin raise exception 'hijacked: ${signature.replaceAll("'", '')}'; end; $$;`;
  return `
    create schema ${evil};
    ${raising('gen_random_uuid()', 'uuid')}
    ${raising('pg_current_xact_id()', 'xid8')}
    ${raising('statement_timestamp()', 'timestamptz')}
    ${raising('nextval(p regclass)', 'bigint')}
    ${raising('pg_get_serial_sequence(a text, b text)', 'text')}
    ${raising('jsonb_typeof(p jsonb)', 'text')}
    ${raising('jsonb_array_length(p jsonb)', 'int')}
    ${raising('hashtext(p text)', 'int')}
    ${raising('pg_advisory_xact_lock(a int, b int)', 'void')}
    ${raising('pg_advisory_xact_lock_shared(a int, b int)', 'void')}
    ${raising('pg_snapshot_xmin(p pg_snapshot)', 'xid8')}
    ${raising('uuid_eq(a uuid, b uuid)', 'boolean')}
    ${raising('text_eq(a text, b text)', 'boolean')}
    ${raising('int8_gt(a bigint, b bigint)', 'boolean')}
    ${raising('int8_plus(a bigint, b bigint)', 'bigint')}
    ${raising('xid8_ne(a xid8, b xid8)', 'boolean')}
    create operator ${evil}.= (leftarg = uuid, rightarg = uuid, function = ${evil}.uuid_eq);
    create operator ${evil}.= (leftarg = text, rightarg = text, function = ${evil}.text_eq);
    create operator ${evil}.> (leftarg = bigint, rightarg = bigint, function = ${evil}.int8_gt);
    create operator ${evil}.+ (leftarg = bigint, rightarg = bigint, function = ${evil}.int8_plus);
    create operator ${evil}.<> (leftarg = xid8, rightarg = xid8, function = ${evil}.xid8_ne);
    create table ${evil}.events (like ${SCHEMA}.events);
    create table ${evil}.streams (stream uuid, version bigint);
    create table ${evil}.users (uuid uuid, name text, version bigint, updated_at timestamptz);
    ${raising('project_user_create(p_uuid uuid, p_body jsonb)', 'void')}
    grant usage on schema ${evil} to public;
  `;
}

describe.skipIf(server.unavailable !== null)('security: search_path, own schemas and temp tables (server)', () => {
  let ownerRole: string;
  let writer: string;
  let database: string;
  let url: string;
  let owner: EventStore;
  let writerClient: pg.Client;

  beforeAll(async () => {
    ownerRole = uniqueRoleName('owner');
    writer = uniqueRoleName('writer');
    await createLoginRoles([ownerRole, writer]);
    database = await createDatabaseOwnedBy(ownerRole);
    url = databaseUrl(database);
    owner = await openEventStore({ url: urlAs(url, ownerRole), migrate: true });
    await owner.execScript(usersReadModelSql(SCHEMA));
    await owner.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
    await owner.grant({ writers: [writer] });
    // The worst case: the writer may create schemas of its own in the store's database.
    await owner.query(`grant create on database ${database} to ${writer}`);
    writerClient = await connectAs(url, writer);
  });
  afterAll(async () => {
    await cleanUp(
      () => writerClient?.end(),
      () => owner?.close(),
      () => database && dropServerDatabase(database),
      () => dropRoles([writer, ownerRole].filter(Boolean)),
    );
  });

  async function userRow(stream: string) {
    const rows = await owner.query(`select name, version::int as version from public.users where uuid = $1`, [stream]);
    return rows[0];
  }

  it("never calls a writer's shadowing functions and operators, even ahead of pg_catalog on its search_path", async () => {
    await writerClient.query(shadowingSql('evil'));
    await writerClient.query(`set search_path = evil, pg_catalog, public, ${SCHEMA}`);
    const stream = randomUUID();
    const { rows } = await writerClient.query<{ version: string }>(
      `select version from ${SCHEMA}.append_events($1, $2, 'no_stream')`,
      [stream, JSON.stringify([{ type: 'user_create', body: { name: 'Ada' } }])],
    );
    expect(rows.map((row) => Number(row.version))).toEqual([1]);
    await writerClient.query(`insert into ${SCHEMA}.events (type, uuid, body) values ('user_update', $1, '{"name": "Ada L."}')`, [
      stream,
    ]);
    // Unqualified, the writer's INSERT reaches its own table: the store is not touched.
    const before = await countEvents(owner);
    await writerClient.query(`insert into events (type, uuid, body, version, event_id, transaction_id)
                              values ('user_update', $1, '{"name": "forged"}', 3, gen_random_uuid(), '1')`, [stream]).catch(
      () => undefined,
    );
    expect(await countEvents(owner)).toBe(before);

    const stored = await owner.query<{ version: number; event_id: string; own_xid: boolean }>(
      `select version::int as version, event_id::text,
              transaction_id::text::bigint > 1 as own_xid
         from ${SCHEMA}.events where uuid = $1 order by version`,
      [stream],
    );
    expect(stored.map((event) => [event.version, event.own_xid])).toEqual([
      [1, true],
      [2, true],
    ]);
    expect(await userRow(stream)).toEqual({ name: 'Ada L.', version: 2 });
  });

  it("writes nothing into a writer's temp tables named like the store's tables and read models", async () => {
    const client = await connectAs(url, writer);
    try {
      await client.query(`
        create temp table users (uuid uuid, name text, version bigint, updated_at timestamptz);
        create temp table streams (stream uuid, version bigint);
        create temp table events (like ${SCHEMA}.events);
        create temp table projection_handlers (projection text, event_type text, handler text, takes_event boolean);
        grant all on users, streams, events, projection_handlers to public;
        set search_path = pg_temp, public, ${SCHEMA};
      `);
      const stream = randomUUID();
      await client.query(`select * from ${SCHEMA}.append_events($1, '[{"type": "user_create", "body": {"name": "Grace"}}]')`, [stream]);
      await client.query(`insert into ${SCHEMA}.events (type, uuid, body) values ('user_update', $1, '{"name": "Grace H."}')`, [stream]);
      const { rows } = await client.query<{ n: number }>(
        `select (select count(*) from pg_temp.users) + (select count(*) from pg_temp.streams)
              + (select count(*) from pg_temp.events) + (select count(*) from pg_temp.projection_handlers) as n`,
      );
      expect(Number(rows[0]?.n)).toBe(0);
      expect(await userRow(stream)).toEqual({ name: 'Grace H.', version: 2 });
    } finally {
      await client.end();
    }
  });

  it('refuses a handler whose search_path would look in pg_temp before its own schema', async () => {
    await owner.execScript(`
      create function public.unsafe_implicit_temp(p_uuid uuid, p_body jsonb) returns void
      language plpgsql set search_path = public
      as $$ begin insert into users (uuid, name, version) values (p_uuid, p_body ->> 'name', 1); end; $$;
      create function public.unsafe_temp_first(p_uuid uuid, p_body jsonb) returns void
      language plpgsql set search_path = pg_temp, public
      as $$ begin insert into users (uuid, name, version) values (p_uuid, p_body ->> 'name', 1); end; $$;
    `);
    for (const handler of ['public.unsafe_implicit_temp', 'public.unsafe_temp_first']) {
      const error = await rejectionOf(
        owner.defineProjection({ name: 'unsafe_users', handlers: { user_signup: handler }, tables: ['public.users'] }),
      );
      expect(error, handler).toBeInstanceOf(ProjectionDefinitionError);
      expect((error as Error).message).toContain('pg_temp');
    }
    expect(await owner.query(`select 1 from ${SCHEMA}.projections where name = 'unsafe_users'`)).toEqual([]);
  });

  it("refuses a handler that a writer's schema named after the owner slips into the owner's search_path", async () => {
    // The owner's default search_path is "$user", public: a schema named like the owner comes first.
    await writerClient.query(`
      reset search_path;
      create schema ${ownerRole};
      grant usage on schema ${ownerRole} to public;
      create function ${ownerRole}.project_user_create(p_uuid uuid, p_body jsonb) returns void
      language plpgsql set search_path = public, pg_temp
      as $$ begin
        -- Run with the owner's rights, this would hand every role the stream versions.
        execute 'grant update, delete on ${SCHEMA}.streams to public';
      end; $$;
    `);
    const error = await rejectionOf(
      owner.defineProjection({
        name: 'users',
        handlers: { ...usersHandlers, user_create: 'project_user_create' },
        tables: ['public.users'],
        streamColumn: 'uuid',
      }),
    );
    expect(error).toBeInstanceOf(ProjectionDefinitionError);
    expect((error as Error).message).toContain(writer);
    const [handler] = await owner.query(`select handler from ${SCHEMA}.projection_handlers where event_type = 'user_create'`);
    expect(handler).toEqual({ handler: 'public.project_user_create(uuid, jsonb)' });

    const stream = randomUUID();
    await owner.append(stream, [{ type: 'user_create', body: { name: 'Katherine' } }]);
    expect(await userRow(stream)).toEqual({ name: 'Katherine', version: 1 });
    const [privileges] = await owner.query(
      `select has_table_privilege($1, '${SCHEMA}.streams', 'update') as can_update,
              has_table_privilege($1, '${SCHEMA}.streams', 'delete') as can_delete`,
      [writer],
    );
    expect(privileges).toEqual({ can_update: false, can_delete: false });
  });

  it('refuses a handler owned by another role, even when named with its schema', async () => {
    await writerClient.query(`
      create function evil.project_writer(p_uuid uuid, p_body jsonb) returns void
      language plpgsql set search_path = public, pg_temp
      as $$ begin null; end; $$;
    `);
    const error = await rejectionOf(
      owner.defineProjection({ name: 'writer_owned', handlers: { user_create: 'evil.project_writer' } }),
    );
    expect(error).toBeInstanceOf(ProjectionDefinitionError);
    expect(await owner.query(`select 1 from ${SCHEMA}.projections where name = 'writer_owned'`)).toEqual([]);
  });
});
