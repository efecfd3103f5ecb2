import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectionDefinitionError, ReplayRefusedError, UnknownProjectionError } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { rejectionOf, usersHandlers, usersReadModelSql } from './fixtures.js';

export default function materializedViewsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`materialized views (${engine.name})`, () => {
    let t: TestStore;
    let schema: string;
    /** The seed's users_view: the latest user_update of each user. */
    let usersViewQuery: string;
    const [ada, grace] = [randomUUID(), randomUUID()];

    beforeAll(async () => {
      t = await engine.createStore();
      schema = t.store.schema;
      usersViewQuery = `
        select distinct on (uuid) uuid, body ->> 'name' as name, inserted_at
          from ${schema}.events
         where type = 'user_update'
         order by uuid, id desc`;
      await t.store.execScript(usersReadModelSql(schema));
      await t.store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
      await t.store.append(ada, [
        { type: 'user_create', body: { name: 'Ada' } },
        { type: 'user_update', body: { name: 'Ada L.' } },
        { type: 'user_update', body: { name: 'Ada Lovelace' } },
      ]);
      await t.store.append(grace, [{ type: 'user_create', body: { name: 'Grace' } }]);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    async function viewRows(view: string) {
      return t.store.query<{ uuid: string; name: string }>(`select uuid, name from ${view} order by uuid`);
    }

    async function relationExists(name: string): Promise<boolean> {
      const [row] = await t.store.query<{ found: boolean }>('select to_regclass($1) is not null as found', [name]);
      return row!.found;
    }

    async function lastPosition(): Promise<number> {
      const [row] = await t.store.query<{ id: number }>(`select max(id)::int as id from ${schema}.events`);
      return row!.id;
    }

    it("defines the seed's users_view, populated with the latest user_update of each user", async () => {
      await t.store.defineMaterializedView({ name: 'users_view', query: usersViewQuery, uniqueColumns: ['uuid'] });
      expect(await viewRows('public.users_view')).toEqual([{ uuid: ada, name: 'Ada Lovelace' }]);
    });

    it("lists it as a projection of kind 'materialized_view'", async () => {
      const [view] = (await t.store.listProjections()).filter((projection) => projection.name === 'users_view');
      expect(view).toMatchObject({
        name: 'users_view',
        kind: 'materialized_view',
        tables: ['public.users_view'],
        handlers: {},
        streamColumn: null,
        refreshedPosition: await lastPosition(),
      });
      expect(view!.lastRefreshedAt).toBeInstanceOf(Date);
    });

    it('shows new events only after a refresh, which runs concurrently thanks to the unique index', async () => {
      await t.store.append(grace, [{ type: 'user_update', body: { name: 'Grace Hopper' } }]);
      await t.store.append(ada, [{ type: 'user_update', body: { name: 'Countess' } }]);
      expect(await viewRows('public.users_view')).toEqual([{ uuid: ada, name: 'Ada Lovelace' }]);

      expect(await t.store.refreshMaterializedView('users_view')).toBe(true);
      const expected = [
        { uuid: ada, name: 'Countess' },
        { uuid: grace, name: 'Grace Hopper' },
      ].sort((x, y) => x.uuid.localeCompare(y.uuid));
      expect(await viewRows('public.users_view')).toEqual(expected);
      const [view] = (await t.store.listProjections()).filter((projection) => projection.name === 'users_view');
      expect(view!.refreshedPosition).toBe(await lastPosition());
    });

    it('refreshes a view without a unique index, not concurrently', async () => {
      await t.store.defineMaterializedView({ name: 'users_view_plain', query: usersViewQuery });
      await t.store.append(grace, [{ type: 'user_update', body: { name: 'Rear Admiral' } }]);
      expect(await t.store.refreshMaterializedView('users_view_plain')).toBe(false);
      expect((await viewRows('public.users_view_plain')).find((row) => row.uuid === grace)?.name).toBe('Rear Admiral');
    });

    it('defines a view from SQL with define_materialized_view, in the schema asked for', async () => {
      await t.store.execScript(`
        create schema reporting;
        select define_materialized_view(
          'user_counts',
          'select type, count(*)::int as n from ${schema}.events group by type',
          '{type}',
          'reporting'
        );`);
      const rows = await t.store.query<{ type: string; n: number }>('select type, n from reporting.user_counts order by type');
      expect(rows).toEqual([
        { type: 'user_create', n: 2 },
        { type: 'user_update', n: 5 },
      ]);
      expect((await t.store.listProjections()).find((projection) => projection.name === 'user_counts')?.tables).toEqual([
        'reporting.user_counts',
      ]);
      expect(await t.store.refreshMaterializedView('user_counts')).toBe(true);
    });

    it('refuses to refresh a trigger projection, with ReplayRefusedError', async () => {
      const error = await rejectionOf(t.store.refreshMaterializedView('users'));
      expect(error).toBeInstanceOf(ReplayRefusedError);
      expect((error as ReplayRefusedError).hint).toMatch(/replay_projection/);
    });

    it('refuses to replay a materialized view, with ReplayRefusedError', async () => {
      const error = await rejectionOf(t.store.replay('users_view'));
      expect(error).toBeInstanceOf(ReplayRefusedError);
      expect((error as ReplayRefusedError).hint).toMatch(/refresh_materialized_view/);
    });

    it('refuses a view named like an existing projection, and a trigger projection named like a view', async () => {
      await expect(t.store.defineMaterializedView({ name: 'users', query: usersViewQuery })).rejects.toBeInstanceOf(
        ProjectionDefinitionError,
      );
      await expect(
        t.store.defineProjection({ name: 'users_view', handlers: { user_create: 'public.project_user_create' } }),
      ).rejects.toBeInstanceOf(ProjectionDefinitionError);
      expect((await t.store.listProjections()).find((projection) => projection.name === 'users')?.kind).toBe('trigger');
    });

    it('refuses an empty query, creating nothing', async () => {
      await expect(t.store.defineMaterializedView({ name: 'empty_view', query: '  ' })).rejects.toBeInstanceOf(
        ProjectionDefinitionError,
      );
      expect(await relationExists('public.empty_view')).toBe(false);
    });

    it('leaves nothing behind when the query is invalid', async () => {
      await expect(t.store.defineMaterializedView({ name: 'broken_view', query: 'select nope from nowhere' })).rejects.toThrow();
      expect(await relationExists('public.broken_view')).toBe(false);
      expect((await t.store.listProjections()).map((projection) => projection.name)).not.toContain('broken_view');
    });

    it('drops the view with the projection', async () => {
      await t.store.dropProjection('users_view');
      expect(await relationExists('public.users_view')).toBe(false);
      expect((await t.store.listProjections()).map((projection) => projection.name)).not.toContain('users_view');
      await expect(t.store.refreshMaterializedView('users_view')).rejects.toBeInstanceOf(UnknownProjectionError);
      await t.store.dropProjection('user_counts');
      expect(await relationExists('reporting.user_counts')).toBe(false);
    });
  });
}
