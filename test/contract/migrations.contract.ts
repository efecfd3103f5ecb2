import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type EventStore,
  InvalidArgumentError,
  MigrationChecksumError,
  openEventStore,
  SchemaNewerThanCodeError,
  SchemaNotInstalledError,
} from '../../src/index.js';
import { definitionFiles, migrationFiles } from '../../src/migrations/files.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { rejectionOf } from './fixtures.js';

/** A migrated database and a way to open more stores on it, with other schemas. */
interface Database {
  store: EventStore;
  open(schema: string, options?: { migrate?: boolean }): Promise<EventStore>;
  dispose(): Promise<void>;
}

// Stores with other schemas must share the database: on the server, the test store's url; on the
// embedded engine, one PGlite instance loaded from the migrated dump and handed to every store.
async function openDatabase(engine: TestEngine): Promise<Database> {
  const opened: EventStore[] = [];
  if (engine.name === 'server') {
    const t: TestStore = await engine.createStore();
    return {
      store: t.store,
      async open(schema, options = {}) {
        const store = await openEventStore({ url: t.url!, schema, migrate: options.migrate ?? false });
        opened.push(store);
        return store;
      },
      async dispose() {
        await Promise.all(opened.map((store) => store.close()));
        await t.dispose();
      },
    };
  }
  const pglite = await PGlite.create({ loadDataDir: new Blob([readFileSync(inject('pgliteDump'))]) });
  const store = await openEventStore({ pglite });
  return {
    store,
    async open(schema, options = {}) {
      const other = await openEventStore({ pglite, schema, migrate: options.migrate ?? false });
      opened.push(other);
      return other;
    },
    async dispose() {
      await Promise.all([store, ...opened].map((each) => each.close()));
      await pglite.close();
    },
  };
}

export default function migrationsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`migrations (${engine.name})`, () => {
    let db: Database;
    const allMigrations = migrationFiles().map((file) => file.name);
    const codeVersion = migrationFiles().at(-1)!.id;

    beforeAll(async () => {
      db = await openDatabase(engine);
    });
    afterAll(async () => {
      await db?.dispose();
    });

    it('applies nothing to an installed schema, however often it runs', async () => {
      expect(await db.store.migrate()).toEqual({ schema: 'pgevents', applied: [], version: codeVersion });
      expect(await db.store.migrate()).toEqual({ schema: 'pgevents', applied: [], version: codeVersion });
      expect(await db.store.schemaVersion()).toBe(codeVersion);
    });

    describe('a custom schema', () => {
      let custom: EventStore;
      beforeAll(async () => {
        custom = await db.open('es_custom');
      });

      it('installs every migration once, and nothing the second time', async () => {
        expect(await custom.schemaVersion()).toBe(0);
        expect(await custom.migrate()).toEqual({
          schema: 'es_custom',
          applied: allMigrations,
          version: codeVersion,
          definitions: definitionFiles().checksum,
        });
        expect(await custom.migrate()).toEqual({ schema: 'es_custom', applied: [], version: codeVersion });
        expect(await custom.schemaVersion()).toBe(codeVersion);
        const ledger = await custom.query<{ id: number; name: string; checksum: string }>(
          'select id, name, checksum from es_custom.migrations order by id',
        );
        expect(ledger).toEqual(migrationFiles().map((file) => ({ id: file.id, name: file.name, checksum: file.checksum })));
      });

      it('keeps its events, versions and projections apart from the default schema', async () => {
        const stream = randomUUID();
        const defaultBefore = await db.store.status();
        await custom.execScript(`
          create table public.custom_seen (uuid uuid, type text);
          create function public.custom_seen_event(e es_custom.events) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin insert into custom_seen values (e.uuid, e.type); end; $$;`);
        await custom.defineProjection({ name: 'seen', handlers: { user_create: 'public.custom_seen_event' } });

        const inCustom = await custom.append(stream, [{ type: 'user_create', body: { where: 'custom' } }], {
          expectedVersion: 'no_stream',
        });
        const inDefault = await db.store.append(stream, [
          { type: 'user_create', body: { where: 'default' } },
          { type: 'user_update', body: {} },
        ]);
        expect(inCustom.nextVersion).toBe(1);
        expect(inDefault.nextVersion).toBe(2);
        expect((await custom.readStream(stream)).map((event) => event.body)).toEqual([{ where: 'custom' }]);
        expect((await db.store.readStream(stream)).map((event) => event.body.where)).toEqual(['default', undefined]);

        expect(await db.store.query('select uuid, type from public.custom_seen')).toEqual([{ uuid: stream, type: 'user_create' }]);
        expect((await custom.status()).events).toBe(1);
        expect((await db.store.status()).events).toBe(defaultBefore.events + 2);
        expect((await db.store.listProjections()).map((projection) => projection.name)).not.toContain('seen');
        expect((await custom.listProjections()).map((projection) => projection.name)).toEqual(['seen']);
      });

      it('puts its own schema on the search_path of a script', async () => {
        const stream = randomUUID();
        await custom.execScript(`insert into events (type, uuid, body) values ('user_create', '${stream}', '{}')`);
        expect(await custom.readStream(stream)).toHaveLength(1);
        expect(await db.store.readStream(stream)).toEqual([]);
      });

      it('installs while opening with migrate: true', async () => {
        const other = await db.open('es_other', { migrate: true });
        expect(await other.schemaVersion()).toBe(codeVersion);
        expect((await other.append(randomUUID(), [{ type: 'x', body: {} }])).nextVersion).toBe(1);
      });
    });

    it('refuses a schema whose ledger has a migration newer than the code, with SchemaNewerThanCodeError', async () => {
      const store = await db.open('es_newer', { migrate: true });
      await store.query(`insert into es_newer.migrations (id, name, checksum) values (9999, '9999_from_the_future.sql', 'x')`);
      const error = await rejectionOf(store.migrate());
      expect(error).toBeInstanceOf(SchemaNewerThanCodeError);
      expect(error).toMatchObject({ code: 'SCHEMA_NEWER_THAN_CODE' });
      expect((error as Error).message).toContain('9999');
      expect((error as Error).message).toContain('es_newer');
      expect((error as SchemaNewerThanCodeError).hint).toMatch(/Upgrade/);
      await expect(db.open('es_newer', { migrate: true })).rejects.toBeInstanceOf(SchemaNewerThanCodeError);
      expect(await store.schemaVersion()).toBe(9999);
    });

    it('refuses a schema where an applied migration has another checksum, with MigrationChecksumError', async () => {
      const store = await db.open('es_changed', { migrate: true });
      await store.query(`update es_changed.migrations set checksum = 'not the shipped file' where id = 1`);
      const error = await rejectionOf(store.migrate());
      expect(error).toBeInstanceOf(MigrationChecksumError);
      expect(error).toMatchObject({ code: 'MIGRATION_CHANGED' });
      expect((error as Error).message).toContain(allMigrations[0]);
      expect((error as Error).message).toContain('es_changed');
    });

    describe('definitions', () => {
      it('applies the definitions again when they changed, restoring every function and the projections\' code', async () => {
        const store = await db.open('es_defs', { migrate: true });
        await store.execScript(`
          create table public.defs_seen (uuid uuid primary key);
          create function public.defs_seen_event(e es_defs.events) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin insert into defs_seen values (e.uuid); end; $$;`);
        await store.defineProjection({ name: 'defs_seen', handlers: { seen: 'public.defs_seen_event' } });
        // What a store holds when its definitions are older than the code: other function bodies,
        // a projection's generated code from then, and another recorded checksum.
        await store.execScript(`
          create or replace function es_defs.read_stream(p_stream uuid, p_from_version bigint default 1, p_limit int default 1000)
          returns setof es_defs.events language sql stable set search_path = es_defs, pg_temp
          as $$ select * from events where false $$;
          create or replace function es_defs.tg_events__project_defs_seen() returns trigger
          language plpgsql as $$ begin return null; end; $$;
          delete from es_defs.definitions;
          insert into es_defs.definitions (checksum) values ('an older release');`);
        const stream = randomUUID();
        await store.append(stream, [{ type: 'seen', body: {} }]);
        expect(await store.query('select uuid from public.defs_seen')).toEqual([]);

        expect(await store.migrate()).toEqual({
          schema: 'es_defs',
          applied: [],
          version: codeVersion,
          definitions: definitionFiles().checksum,
        });
        expect(await store.readStream(stream)).toHaveLength(1);
        const other = randomUUID();
        await store.append(other, [{ type: 'seen', body: {} }]);
        expect(await store.query('select uuid from public.defs_seen')).toEqual([{ uuid: other }]);
        expect(await store.migrate()).toEqual({ schema: 'es_defs', applied: [], version: codeVersion });
      });

      it('refuses code whose definitions the store has replaced with newer ones, with SchemaNewerThanCodeError', async () => {
        const store = await db.open('es_defs_newer', { migrate: true });
        await store.query(`insert into es_defs_newer.definitions (checksum) values ('a newer release')`);
        const error = await rejectionOf(store.migrate());
        expect(error).toBeInstanceOf(SchemaNewerThanCodeError);
        expect((error as Error).message).toContain('definitions newer');
        expect(await store.query(`select checksum from es_defs_newer.definitions order by id desc limit 1`)).toEqual([
          { checksum: 'a newer release' },
        ]);
      });

      it('leaves the store as it was when applying them fails', async () => {
        const store = await db.open('es_defs_fail', { migrate: true });
        // A view of the caller's that depends on a column of a store view which the definitions
        // replace with another column list cannot be replaced: the whole migration rolls back.
        await store.execScript(`
          drop view es_defs_fail.event_types;
          create view es_defs_fail.event_types as select 1 as only_column;
          delete from es_defs_fail.definitions;
          insert into es_defs_fail.definitions (checksum) values ('an older release');`);
        await expect(store.migrate()).rejects.toThrow(/column/);
        expect(await store.query(`select checksum from es_defs_fail.definitions order by id desc limit 1`)).toEqual([
          { checksum: 'an older release' },
        ]);
        expect(await store.query(`select only_column from es_defs_fail.event_types`)).toEqual([{ only_column: 1 }]);
      });
    });

    for (const schema of ['Es_custom', 'es-custom', 'es;drop', '1es', 'es custom', '"es"', `e${'s'.repeat(63)}`, '']) {
      it(`refuses the schema name ${JSON.stringify(schema)} with InvalidArgumentError`, async () => {
        const error = await rejectionOf(db.open(schema, { migrate: true }));
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect(error).toMatchObject({ argument: 'schema' });
      });
    }

    describe('a store whose schema is not installed', () => {
      const cases: [string, (store: EventStore) => Promise<unknown>][] = [
        ['append', (store) => store.append(randomUUID(), [{ type: 'x', body: {} }])],
        ['readStream', (store) => store.readStream(randomUUID())],
        ['readAll', (store) => store.readAll()],
        ['status', (store) => store.status()],
        ['replay', (store) => store.replay('users')],
        ['listProjections', (store) => store.listProjections()],
        ['defineProjection', (store) => store.defineProjection({ name: 'users', handlers: { x: 'public.nope' } })],
      ];
      for (const [operation, call] of cases) {
        it(`fails ${operation} with SchemaNotInstalledError, for a missing schema and an empty one`, async () => {
          const missing = await db.open('es_missing');
          const missingError = await rejectionOf(call(missing));
          expect(missingError).toBeInstanceOf(SchemaNotInstalledError);
          expect(missingError).toMatchObject({ code: 'SCHEMA_NOT_INSTALLED' });
          expect((missingError as SchemaNotInstalledError).hint).toMatch(/migrate/);

          await db.store.query('create schema if not exists es_empty');
          const empty = await db.open('es_empty');
          expect(await rejectionOf(call(empty))).toBeInstanceOf(SchemaNotInstalledError);
        });
      }

      it('reports schema version 0', async () => {
        expect(await (await db.open('es_missing')).schemaVersion()).toBe(0);
      });
    });
  });
}
