import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, openEventStore } from '../../src/index.js';
import { usersHandlers, usersReadModelSql } from '../contract/fixtures.js';
import { dropServerDatabase, server, type TestStore } from '../support/engines.js';
import { cleanUp, createDatabaseOwnedBy, createLoginRoles, dropRoles, uniqueRoleName, urlAs } from '../support/roles.js';
import { databaseUrl } from '../support/server-url.js';

const SCHEMA = 'pgevents';

interface CatalogSetup {
  owner: EventStore;
  dispose(): Promise<void>;
}

async function superuserOwner(): Promise<CatalogSetup> {
  const t: TestStore = await server.createStore();
  return { owner: t.store, dispose: () => t.dispose() };
}

async function plainOwner(): Promise<CatalogSetup> {
  const role = uniqueRoleName('owner');
  await createLoginRoles([role]);
  let database: string | undefined;
  let owner: EventStore | undefined;
  const dispose = () =>
    cleanUp(
      () => owner?.close(),
      () => database && dropServerDatabase(database),
      () => dropRoles([role]),
    );
  try {
    database = await createDatabaseOwnedBy(role);
    owner = await openEventStore({ url: urlAs(databaseUrl(database), role), migrate: true });
    return { owner, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

function describeCatalog(label: string, setupFn: () => Promise<CatalogSetup>): void {
  describe(`the catalogue of a store installed by ${label}`, () => {
    let s: CatalogSetup;

    beforeAll(async () => {
      s = await setupFn();
      // Everything that generates or grants code: a trigger projection, a materialized view, a later function.
      await s.owner.execScript(usersReadModelSql(SCHEMA));
      await s.owner.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
      await s.owner.defineMaterializedView({
        name: 'user_names',
        query: `select uuid, body ->> 'name' as name from ${SCHEMA}.events where type = 'user_create'`,
        schema: 'public',
      });
      await s.owner.query(`create function ${SCHEMA}.added_later() returns int language sql as 'select 1'`);
    });
    afterAll(async () => {
      await s?.dispose();
    });

    it('closes every function of the store schema to PUBLIC, generated and later ones included', async () => {
      const functions = await s.owner.query<{ fn: string }>(
        `select p.oid::regprocedure::text as fn from pg_proc p
          where p.pronamespace = $1::regnamespace order by 1`,
        [SCHEMA],
      );
      expect(functions.map((row) => row.fn)).toEqual(
        expect.arrayContaining([
          `${SCHEMA}.append_events(uuid,jsonb,text)`,
          `${SCHEMA}.tg_events__project_users()`,
          `${SCHEMA}.projection_apply__users(bigint,integer,uuid,text[])`,
          `${SCHEMA}.added_later()`,
        ]),
      );
      const open = await s.owner.query(
        `select p.oid::regprocedure::text as fn from pg_proc p
          where p.pronamespace = $1::regnamespace and has_function_privilege('public', p.oid, 'execute')`,
        [SCHEMA],
      );
      expect(open).toEqual([]);
    });

    it('closes the projection handlers to PUBLIC', async () => {
      const open = await s.owner.query(
        `select h.handler from ${SCHEMA}.projection_handlers h
          where has_function_privilege('public', h.handler::regprocedure, 'execute')`,
      );
      expect(open).toEqual([]);
    });

    it('pins search_path, with pg_temp last, in every security definer function of the schema', async () => {
      const definers = await s.owner.query<{ fn: string; config: string[] | null }>(
        `select p.oid::regprocedure::text as fn, p.proconfig as config from pg_proc p
          where p.pronamespace = $1::regnamespace and p.prosecdef order by 1`,
        [SCHEMA],
      );
      expect(definers.map((row) => row.fn)).toEqual(
        expect.arrayContaining([`${SCHEMA}.append_events(uuid,jsonb,text)`, `${SCHEMA}.tg_events__project_users()`]),
      );
      for (const { fn, config } of definers) {
        const searchPath = (config ?? []).find((setting) => setting.startsWith('search_path='));
        expect(searchPath, fn).toBeDefined();
        expect(searchPath!.split(',').map((entry) => entry.trim()).at(-1), fn).toBe('pg_temp');
      }
    });

    it('grants PUBLIC nothing on the tables, views and sequences of the schema', async () => {
      const open = await s.owner.query(
        `select c.relname, p.privilege from pg_class c
          cross join unnest(array['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger']) p(privilege)
          where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'v', 'm', 'p')
            and has_table_privilege('public', c.oid, p.privilege)
          union all
         select c.relname, p.privilege from pg_class c
          cross join unnest(array['usage', 'select', 'update']) p(privilege)
          where c.relnamespace = $1::regnamespace and c.relkind = 'S'
            and has_sequence_privilege('public', c.oid, p.privilege)`,
        [SCHEMA],
      );
      expect(open).toEqual([]);
      const [schema] = await s.owner.query(`select has_schema_privilege('public', $1, 'usage') as usage,
                                                   has_schema_privilege('public', $1, 'create') as "create"`, [SCHEMA]);
      expect(schema).toEqual({ usage: false, create: false });
    });

    it("keeps the installing role's default privileges from granting PUBLIC EXECUTE on new functions", async () => {
      const rows = await s.owner.query<{ acl: string[] }>(
        `select d.defaclacl::text[] as acl from pg_default_acl d
          where d.defaclnamespace = 0 and d.defaclobjtype = 'f'
            and d.defaclrole = (select oid from pg_roles where rolname = current_user)`,
      );
      expect(rows).toHaveLength(1);
      // An entry for PUBLIC is written "=X/owner"; only the owner's own entry may remain.
      expect(rows[0]!.acl.filter((entry) => entry.startsWith('='))).toEqual([]);
    });
  });
}

describe.skipIf(server.unavailable !== null)('security: catalogue (server)', () => {
  describeCatalog('a plain role that owns the database', plainOwner);
  describeCatalog('the superuser', superuserOwner);
});
