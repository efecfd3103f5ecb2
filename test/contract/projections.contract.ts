import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectionHandlerError, UnknownProjectionError } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { countEvents, rejectionOf, usersHandlers, usersReadModelSql } from './fixtures.js';

export default function projectionsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`trigger projections (${engine.name})`, () => {
    let t: TestStore;
    let schema: string;

    beforeAll(async () => {
      t = await engine.createStore();
      schema = t.store.schema;
      await t.store.execScript(usersReadModelSql(schema));
      await t.store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
    });
    afterAll(async () => {
      await t?.dispose();
    });

    async function userRow(stream: string) {
      const [row] = await t.store.query<{ name: string | null; version: number }>(
        'select name, version::int as version from public.users where uuid = $1',
        [stream],
      );
      return row;
    }

    async function triggerExists(name: string): Promise<boolean> {
      const rows = await t.store.query(
        `select 1 from pg_trigger where tgrelid = '${schema}.events'::regclass and tgname = $1`,
        [`project_${name}`],
      );
      return rows.length === 1;
    }

    describe('defined from TypeScript', () => {
      it('updates the read model as events are appended', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'Ada' } }]);
        expect(await userRow(stream)).toEqual({ name: 'Ada', version: 1 });
        await t.store.append(stream, [
          { type: 'user_update', body: { name: 'Ada L.' } },
          { type: 'user_update', body: { name: 'Ada Lovelace' } },
        ]);
        expect(await userRow(stream)).toEqual({ name: 'Ada Lovelace', version: 3 });
        await t.store.append(stream, [{ type: 'user_delete', body: {} }]);
        expect(await userRow(stream)).toBeUndefined();
      });

      it('calls handlers of both styles: (uuid, jsonb) and the whole event row', async () => {
        const stream = randomUUID();
        const { events } = await t.store.append(stream, [
          { type: 'user_create', body: { name: 'Grace' } },
          { type: 'user_update', body: { name: 'Grace H.' } },
        ]);
        const [row] = await t.store.query<{ updated_at: Date }>('select updated_at from public.users where uuid = $1', [stream]);
        const [stored] = await t.store.readStream(stream, { fromVersion: 2 });
        expect(stored!.eventId).toBe(events[1]!.eventId);
        expect(new Date(row!.updated_at).getTime()).toBe(stored!.insertedAt.getTime());
      });

      it('lists the projection with its handlers, tables and stream column', async () => {
        const [users] = (await t.store.listProjections()).filter((projection) => projection.name === 'users');
        expect(users).toMatchObject({
          name: 'users',
          kind: 'trigger',
          version: 1,
          tables: ['public.users'],
          streamColumn: 'uuid',
          handlers: {
            user_create: 'public.project_user_create(uuid, jsonb)',
            user_update: `public.project_user_update(${schema}.events)`,
            user_delete: `public.project_user_delete(${schema}.events)`,
          },
          lastReplayedAt: null,
          lastRefreshedAt: null,
          refreshedPosition: null,
        });
        expect(users!.definedAt).toBeInstanceOf(Date);
      });

      it('leaves the read model alone for events of types it does not handle', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'Ann' } }]);
        const before = await t.store.query('select * from public.users order by uuid');
        await t.store.append(stream, [
          { type: 'user_login', body: { name: 'not a name' } },
          { type: 'update_user', body: { name: 'the seed mix-up' } },
        ]);
        expect(await t.store.query('select * from public.users order by uuid')).toEqual(before);
      });
    });

    describe('in the appending transaction', () => {
      it('shows the read-model row inside the transaction that appends, and only after commit outside it', async () => {
        const stream = randomUUID();
        await t.store.transaction(async (tx) => {
          await t.store.append(stream, [{ type: 'user_create', body: { name: 'inside' } }], { client: tx });
          const { rows } = await tx.query('select name from public.users where uuid = $1', [stream]);
          expect(rows).toEqual([{ name: 'inside' }]);
        });
        expect(await userRow(stream)).toEqual({ name: 'inside', version: 1 });
      });

      it("keeps neither the event nor the read-model row when the caller's transaction throws after the append", async () => {
        const stream = randomUUID();
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.transaction(async (tx) => {
            await t.store.append(stream, [{ type: 'user_create', body: { name: 'rolled back' } }], { client: tx });
            throw new Error('the caller changed its mind');
          }),
        );
        expect((error as Error).message).toBe('the caller changed its mind');
        expect(await countEvents(t.store)).toBe(before);
        expect(await t.store.readStream(stream)).toEqual([]);
        expect(await userRow(stream)).toBeUndefined();
      });

      it('aborts the append when a handler raises, with ProjectionHandlerError naming the event, and stores nothing', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'first' } }]);
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.append(stream, [
            { type: 'user_update', body: { name: 'would be applied' } },
            { type: 'user_create', body: { name: 'duplicate key' } },
          ]),
        );
        expect(error).toBeInstanceOf(ProjectionHandlerError);
        expect(error).toMatchObject({
          code: 'PROJECTION_FAILED',
          projection: 'users',
          eventType: 'user_create',
          stream,
          version: 3,
          sqlState: '23505',
        });
        expect((error as Error).message).toContain('users');
        expect(await countEvents(t.store)).toBe(before);
        expect(await t.store.readStream(stream)).toHaveLength(1);
        expect(await userRow(stream)).toEqual({ name: 'first', version: 1 });
      });

      it('aborts a plain SQL insert when a handler raises', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'first' } }]);
        const error = await rejectionOf(
          t.store.execScript(`insert into events (type, uuid, body) values ('user_create', '${stream}', '{"name": "again"}')`),
        );
        expect(error).toBeInstanceOf(ProjectionHandlerError);
        expect(error).toMatchObject({ projection: 'users', stream, version: 2, sqlState: '23505' });
        expect(await t.store.readStream(stream)).toHaveLength(1);
      });

      it('reports the SQLSTATE a handler raises itself', async () => {
        await t.store.execScript(`
          create function public.refuse_order(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp
          as $$
          begin
            if (p_body ->> 'total')::numeric < 0 then
              raise exception 'negative total' using errcode = 'P0042';
            end if;
          end;
          $$;`);
        await t.store.defineProjection({ name: 'orders', handlers: { order_placed: 'public.refuse_order' } });
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'order_placed', body: { total: 5 } }]);
        const error = await rejectionOf(t.store.append(stream, [{ type: 'order_placed', body: { total: -1 } }]));
        expect(error).toMatchObject({ projection: 'orders', eventType: 'order_placed', stream, version: 2, sqlState: 'P0042' });
        expect((error as Error).message).toContain('negative total');
        await t.store.dropProjection('orders');
      });
    });

    describe('defined from SQL', () => {
      it('projects with a projection defined by define_projection in a script, like the example', async () => {
        await t.store.execScript(`
          create table public.logins (uuid uuid primary key, count int not null, last_at timestamptz not null);
          create function public.project_login(e events) returns void
          language plpgsql
          set search_path = public, pg_temp
          as $$
          begin
            insert into logins (uuid, count, last_at) values (e.uuid, 1, e.inserted_at)
            on conflict (uuid) do update set count = logins.count + 1, last_at = excluded.last_at;
          end;
          $$;
          select define_projection('logins', '{"user_login": "project_login"}', '{logins}', 'uuid');
        `);
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_login', body: {} }, { type: 'user_login', body: {} }]);
        const [row] = await t.store.query<{ count: number }>('select count from public.logins where uuid = $1', [stream]);
        expect(row).toEqual({ count: 2 });
        const [logins] = (await t.store.listProjections()).filter((projection) => projection.name === 'logins');
        expect(logins).toMatchObject({ kind: 'trigger', tables: ['public.logins'], streamColumn: 'uuid' });
        expect(logins!.handlers.user_login).toMatch(/^public\.project_login\(/);
      });

      it('projects with a projection defined by a schema-qualified call through query', async () => {
        await t.store.query(`select ${schema}.define_projection($1, $2::jsonb, $3::text[], $4)`, [
          'logins_by_query',
          JSON.stringify({ user_login: 'public.project_login' }),
          [],
          null,
        ]);
        expect(await triggerExists('logins_by_query')).toBe(true);
        await t.store.dropProjection('logins_by_query');
      });
    });

    describe('redefine and drop', () => {
      it('replaces the handlers when a projection is defined again', async () => {
        await t.store.execScript(`
          create table public.names (uuid uuid primary key, name text);
          create function public.names_created(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin insert into names (uuid, name) values (p_uuid, p_body ->> 'name'); end; $$;
          create function public.names_renamed(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin update names set name = p_body ->> 'name' where uuid = p_uuid; end; $$;
          create function public.names_created_upper(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin insert into names (uuid, name) values (p_uuid, upper(p_body ->> 'name')); end; $$;
        `);
        await t.store.defineProjection({
          name: 'names',
          handlers: { user_create: 'public.names_created', user_update: 'public.names_renamed' },
          tables: ['public.names'],
        });
        const first = randomUUID();
        await t.store.append(first, [{ type: 'user_create', body: { name: 'ada' } }]);

        await t.store.defineProjection({
          name: 'names',
          handlers: { user_create: 'public.names_created_upper' },
          tables: ['public.names'],
          version: 2,
        });
        const second = randomUUID();
        await t.store.append(second, [{ type: 'user_create', body: { name: 'grace' } }]);
        await t.store.append(first, [{ type: 'user_update', body: { name: 'not applied' } }]);

        const rows = await t.store.query('select uuid, name from public.names order by name');
        expect(rows).toEqual([
          { uuid: second, name: 'GRACE' },
          { uuid: first, name: 'ada' },
        ]);
        const [names] = (await t.store.listProjections()).filter((projection) => projection.name === 'names');
        expect(names).toMatchObject({ version: 2, handlers: { user_create: 'public.names_created_upper(uuid, jsonb)' } });
        expect(Object.keys(names!.handlers)).toEqual(['user_create']);
        expect((await t.store.status()).eventTypes.find((type) => type.type === 'user_update')?.handledBy).toEqual(['users']);
      });

      it('removes the trigger and the registry entry on drop, keeping the tables', async () => {
        expect(await triggerExists('names')).toBe(true);
        await t.store.dropProjection('names');
        expect(await triggerExists('names')).toBe(false);
        expect((await t.store.listProjections()).map((projection) => projection.name)).not.toContain('names');
        const rows = await t.store.query(`select 1 from ${schema}.projection_handlers where projection = 'names'`);
        expect(rows).toEqual([]);

        const before = await t.store.query('select * from public.names order by uuid');
        expect(before).toHaveLength(2);
        await t.store.append(randomUUID(), [{ type: 'user_create', body: { name: 'after drop' } }]);
        expect(await t.store.query('select * from public.names order by uuid')).toEqual(before);
        await expect(t.store.replay('names')).rejects.toBeInstanceOf(UnknownProjectionError);
      });

      it('drops the tables too when asked', async () => {
        await t.store.defineProjection({
          name: 'names',
          handlers: { user_create: 'public.names_created' },
          tables: ['public.names'],
        });
        await t.store.dropProjection('names', { dropTables: true });
        const [row] = await t.store.query<{ table: string | null }>(`select to_regclass('public.names')::text as table`);
        expect(row!.table).toBeNull();
        expect(await triggerExists('names')).toBe(false);
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'still appends' } }]);
        expect(await t.store.readStream(stream)).toHaveLength(1);
      });

      it('can be defined again after a drop', async () => {
        await t.store.execScript('create table public.names (uuid uuid primary key, name text)');
        await t.store.defineProjection({ name: 'names', handlers: { user_create: 'public.names_created' }, tables: ['public.names'] });
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'back' } }]);
        expect(await t.store.query('select name from public.names where uuid = $1', [stream])).toEqual([{ name: 'back' }]);
      });
    });
  });
}
