import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EventStore,
  LiveTableTouchedError,
  ProjectionHandlerError,
  RebuildConflictError,
  RebuildRefusedError,
  type RebuildProgress,
  UnknownProjectionError,
} from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { rejectionOf } from './fixtures.js';

/**
 * A users read model of its own, `public.<name>`, with handlers for the event types
 * `<name>_create` (the seed's (uuid, jsonb) style), `<name>_update` and `<name>_delete` (whole
 * event row). Every value comes from the event, so a rebuild reproduces the rows exactly.
 */
function modelSql(schema: string, name: string): string {
  return `
    create table public.${name} (
      uuid uuid primary key,
      name text,
      version bigint not null,
      updated_at timestamptz
    );
    create function public.${name}_create(p_uuid uuid, p_body jsonb) returns void
    language plpgsql set search_path = public, pg_temp
    as $$ begin insert into ${name} (uuid, name, version) values (p_uuid, p_body ->> 'name', 1); end; $$;
    create function public.${name}_update(e ${schema}.events) returns void
    language plpgsql set search_path = public, pg_temp
    as $$ begin update ${name} set name = e.body ->> 'name', version = e.version, updated_at = e.inserted_at where uuid = e.uuid; end; $$;
    create function public.${name}_delete(e ${schema}.events) returns void
    language plpgsql set search_path = public, pg_temp
    as $$ begin delete from ${name} where uuid = e.uuid; end; $$;
  `;
}

function modelHandlers(name: string): Record<string, string> {
  return {
    [`${name}_create`]: `public.${name}_create`,
    [`${name}_update`]: `public.${name}_update`,
    [`${name}_delete`]: `public.${name}_delete`,
  };
}

/** The same read model in one statement: each stream's latest event, unless it deleted the user. */
function modelRebuildSql(schema: string, name: string): string {
  return `
    insert into ${name} (uuid, name, version, updated_at)
    select l.uuid, l.name, l.version, l.updated_at
      from (select distinct on (e.uuid) e.uuid, e.type, e.body ->> 'name' as name,
                   case when e.type = '${name}_create' then 1 else e.version end as version,
                   case when e.type = '${name}_update' then e.inserted_at end as updated_at
              from ${schema}.events e
             where e.type in ('${name}_create', '${name}_update', '${name}_delete')
             order by e.uuid, e.id desc) l
     where l.type <> '${name}_delete'`;
}

async function defineModel(
  store: EventStore,
  name: string,
  options: { version?: number; rebuildSql?: boolean; create?: boolean } = {},
): Promise<void> {
  if (options.create !== false) await store.execScript(modelSql(store.schema, name));
  await store.defineProjection({
    name,
    handlers: modelHandlers(name),
    tables: [`public.${name}`],
    streamColumn: 'uuid',
    ...(options.version ? { version: options.version } : {}),
    ...(options.rebuildSql ? { rebuildSql: modelRebuildSql(store.schema, name) } : {}),
  });
}

/**
 * Appends a history with plain SQL, one statement (and trigger call) per step: `streams` users
 * created, every second one renamed, every third renamed again, every seventh deleted.
 */
async function appendHistory(store: EventStore, name: string, streams: number): Promise<void> {
  await store.execScript(`
    insert into events (type, uuid, body)
    select '${name}_create', gen_random_uuid(), jsonb_build_object('name', '${name} ' || i) from generate_series(1, ${streams}) i;
    insert into events (type, uuid, body)
    select '${name}_update', uuid, jsonb_build_object('name', 'renamed ' || id) from events where type = '${name}_create' and id % 2 = 0;
    insert into events (type, uuid, body)
    select '${name}_update', uuid, jsonb_build_object('name', 'again ' || id) from events where type = '${name}_create' and id % 3 = 0;
    insert into events (type, uuid, body)
    select '${name}_delete', uuid, '{}' from events where type = '${name}_create' and id % 7 = 0;
  `);
}

async function rows(store: EventStore, table: string): Promise<Record<string, unknown>[]> {
  return store.query(`select uuid::text as uuid, name, version::int as version, updated_at from ${table} order by uuid`);
}

async function progressOf(store: EventStore, name: string): Promise<RebuildProgress | undefined> {
  return (await store.rebuildProgress(name))[0];
}

async function stateOf(store: EventStore, name: string): Promise<string | undefined> {
  return (await store.status()).projections.find((projection) => projection.name === name)?.stateText;
}

export default function rebuildContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`online rebuild (${engine.name})`, () => {
    let t: TestStore;
    let schema: string;
    beforeAll(async () => {
      t = await engine.createStore();
      schema = t.store.schema;
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('rebuilds a projection into the tables a full replay builds, and reports it live', async () => {
      await defineModel(t.store, 'basic');
      await appendHistory(t.store, 'basic', 120);
      const live = await rows(t.store, 'public.basic');
      const seen: RebuildProgress[] = [];

      const result = await t.store.rebuild('basic', { batchSize: 50, onProgress: (progress) => seen.push(progress) });

      expect(result).toMatchObject({ projection: 'basic', path: 'handlers', swapAttempts: 1 });
      expect(result.applied).toBe(await handledEvents(t.store, 'basic'));
      expect(await rows(t.store, 'public.basic')).toEqual(live);
      expect(seen.at(-1)).toMatchObject({ phase: 'done', percent: 100 });
      expect(seen.some((progress) => progress.phase === 'building' && progress.applied > 0 && progress.applied < result.applied)).toBe(true);
      const status = (await t.store.status()).projections.find((projection) => projection.name === 'basic');
      expect(status).toMatchObject({ state: 'live', builtVersion: 1, rows: live.length, handledTypes: ['basic_create', 'basic_delete', 'basic_update'] });
      expect(status?.lastRebuiltAt).toBeInstanceOf(Date);
      expect(await t.store.query(`select nspname from pg_namespace where nspname like '${schema}_rebuild_%'`)).toEqual([]);

      await t.store.replay('basic');
      expect(await rows(t.store, 'public.basic')).toEqual(live);
    });

    it('keeps replays by stream, type and position working on the rebuilt tables', async () => {
      const [stream] = await t.store.query<{ uuid: string }>('select uuid::text as uuid from public.basic order by uuid limit 1');
      const before = await rows(t.store, 'public.basic');
      await t.store.query('update public.basic set name = $1 where uuid = $2', ['damaged', stream!.uuid]);
      await t.store.replay('basic', { stream: stream!.uuid });
      await t.store.replay('basic', { types: ['basic_update'] });
      // The history's last statement appended the deletions: replaying from there re-applies only them.
      const [deletions] = await t.store.query<{ first: string }>(
        `select min(id)::text as first from ${schema}.events where type = 'basic_delete'`,
      );
      await t.store.replay('basic', { fromPosition: Number(deletions!.first) });
      expect(await rows(t.store, 'public.basic')).toEqual(before);
    });

    it('keeps names of indexes and constraints, grants, row security policies and comments, and gives a serial column a fresh sequence', async () => {
      await t.store.execScript(`
        create table public.numbered (
          id serial,
          uuid uuid not null,
          name text,
          constraint numbered_key primary key (uuid),
          constraint numbered_name_not_empty check (name <> '')
        );
        create index numbered_by_lower_name on public.numbered (lower(name)) where name is not null;
        comment on table public.numbered is 'users, numbered';
        grant select (name) on public.numbered to public;
        alter table public.numbered enable row level security;
        create policy numbered_named on public.numbered for select to public using (name is not null);
        create function public.numbered_create(p_uuid uuid, p_body jsonb) returns void
        language plpgsql set search_path = public, pg_temp
        as $$ begin insert into numbered (uuid, name) values (p_uuid, p_body ->> 'name'); end; $$;
      `);
      await t.store.defineProjection({ name: 'numbered', handlers: { numbered_create: 'public.numbered_create' }, tables: ['public.numbered'] });
      await t.store.execScript(`
        insert into events (type, uuid, body) select 'numbered_create', gen_random_uuid(), jsonb_build_object('name', 'n' || i) from generate_series(1, 30) i;
        insert into public.numbered (uuid, name) values (gen_random_uuid(), 'written behind the projection''s back');
        delete from public.numbered where name = 'written behind the projection''s back';`);
      const catalog = () =>
        t.store.query(`
          select (select array_agg(c.relname::text order by c.relname) from pg_index i join pg_class c on c.oid = i.indexrelid
                   where i.indrelid = 'public.numbered'::regclass) as indexes,
                 (select array_agg(conname::text order by conname) from pg_constraint
                   where conrelid = 'public.numbered'::regclass and contype <> 'n') as constraints,
                 (select array_agg(a::text order by a::text) from pg_class c, aclexplode(c.relacl) a where c.oid = 'public.numbered'::regclass) as acl,
                 (select array_agg(a::text order by a::text) from pg_attribute att, aclexplode(att.attacl) a
                   where att.attrelid = 'public.numbered'::regclass and att.attacl is not null) as column_acl,
                 obj_description('public.numbered'::regclass, 'pg_class') as comment,
                 (select relrowsecurity from pg_class where oid = 'public.numbered'::regclass) as row_security,
                 (select array_agg(polname::text || ' ' || pg_get_expr(polqual, polrelid)) from pg_policy
                   where polrelid = 'public.numbered'::regclass) as policies,
                 pg_get_serial_sequence('public.numbered', 'id') as sequence`);
      const before = await catalog();
      expect(before[0]).toMatchObject({ row_security: true, policies: ['numbered_named (name IS NOT NULL)'] });
      expect((await t.store.query<{ max: number }>('select max(id) as max from public.numbered'))[0]!.max).toBe(30);

      await t.store.rebuild('numbered');

      expect(await catalog()).toEqual(before);
      expect(await t.store.query('select min(id) as min, max(id) as max, count(*)::int as n from public.numbered')).toEqual([
        { min: 1, max: 30, n: 30 },
      ]);
      await t.store.execScript(`insert into events (type, uuid, body) values ('numbered_create', gen_random_uuid(), '{"name": "after"}')`);
      expect(await t.store.query(`select id from public.numbered where name = 'after'`)).toEqual([{ id: 31 }]);
    });

    it('applies the events appended while it builds, and then the trigger goes on writing the new tables', async () => {
      await defineModel(t.store, 'catchup');
      await appendHistory(t.store, 'catchup', 40);
      const first = await t.store.query<{ phase: string; applied: string | number }>(`select phase, applied from ${schema}.rebuild_start('catchup')`);
      expect(first[0]!.phase).toBe('building');
      await t.store.query(`select * from ${schema}.rebuild_step('catchup', 10)`);

      // New users, renames of users the rebuild already applied, and a deletion, all while it builds.
      const late = randomUUID();
      await t.store.append(late, [{ type: 'catchup_create', body: { name: 'late' } }, { type: 'catchup_update', body: { name: 'later' } }]);
      await appendHistory(t.store, 'catchup', 5);
      const [applied] = await t.store.query<{ uuid: string }>(`select uuid::text as uuid from public.catchup order by uuid limit 1`);
      await t.store.append(applied!.uuid, [{ type: 'catchup_update', body: { name: 'renamed while rebuilding' } }]);
      const live = await rows(t.store, 'public.catchup');

      let progress = await progressOf(t.store, 'catchup');
      while (progress!.phase !== 'swapping') {
        await t.store.query(`select * from ${schema}.rebuild_step('catchup', 10)`);
        progress = await progressOf(t.store, 'catchup');
      }
      expect(progress!.round).toBeGreaterThanOrEqual(1);
      await t.store.query(`select * from ${schema}.rebuild_swap('catchup')`);
      expect((await progressOf(t.store, 'catchup'))!.phase).toBe('done');
      expect(await rows(t.store, 'public.catchup')).toEqual(live);

      await t.store.append(late, [{ type: 'catchup_update', body: { name: 'after the swap' } }]);
      expect((await t.store.query(`select name from public.catchup where uuid = $1`, [late]))[0]).toEqual({ name: 'after the swap' });
    });

    it('leaves the live tables alone until the swap, and resumes an interrupted rebuild where it stopped', async () => {
      await defineModel(t.store, 'resumed');
      await appendHistory(t.store, 'resumed', 60);
      const live = await rows(t.store, 'public.resumed');
      await t.store.query(`select * from ${schema}.rebuild_start('resumed')`);
      await t.store.query(`select * from ${schema}.rebuild_step('resumed', 20)`);
      await t.store.query(`select * from ${schema}.rebuild_step('resumed', 20)`);
      expect(await rows(t.store, 'public.resumed')).toEqual(live);
      expect(await stateOf(t.store, 'resumed')).toMatch(/^rebuilding \d+(\.\d)?%$/);
      const interrupted = await progressOf(t.store, 'resumed');
      expect(interrupted).toMatchObject({ phase: 'building', applied: 40 });

      const seen: RebuildProgress[] = [];
      await t.store.rebuild('resumed', { batchSize: 20, onProgress: (progress) => seen.push(progress) });

      expect(seen[0]).toMatchObject({ phase: 'building', applied: 40 });
      expect(seen[0]!.startedAt).toEqual(interrupted!.startedAt);
      expect(await rows(t.store, 'public.resumed')).toEqual(live);
      expect(await stateOf(t.store, 'resumed')).toBe('live');
    });

    it('refuses to resume a rebuild of a projection that changed since it began, and restarts when asked', async () => {
      await defineModel(t.store, 'changed');
      await appendHistory(t.store, 'changed', 20);
      await t.store.query(`select * from ${schema}.rebuild_start('changed')`);
      await defineModel(t.store, 'changed', { version: 2, create: false });

      const error = await rejectionOf(t.store.rebuild('changed'));
      expect(error).toBeInstanceOf(RebuildConflictError);
      expect(error).toMatchObject({ code: 'REBUILD_CONFLICT', projection: 'changed' });
      expect((error as RebuildConflictError).hint).toContain('rebuild_start');

      const result = await t.store.rebuild('changed', { restart: true });
      expect(result.applied).toBe(await handledEvents(t.store, 'changed'));
      expect((await progressOf(t.store, 'changed'))!.version).toBe(2);
    });

    it('builds the same tables with the rebuild statement (fast path) as with the handlers', async () => {
      await defineModel(t.store, 'fast', { rebuildSql: true });
      await appendHistory(t.store, 'fast', 150);
      const live = await rows(t.store, 'public.fast');

      const fast = await t.store.rebuild('fast', { batchSize: 40 });
      expect(fast.path).toBe('statement');
      const byStatement = await rows(t.store, 'public.fast');

      await defineModel(t.store, 'fast', { create: false });
      const slow = await t.store.rebuild('fast', { batchSize: 40 });
      expect(slow.path).toBe('handlers');

      expect(byStatement).toEqual(live);
      expect(await rows(t.store, 'public.fast')).toEqual(byStatement);
      expect(fast.applied).toBe(slow.applied);
    });

    it('catches up with the handlers after the rebuild statement, for events appended after its snapshot', async () => {
      await defineModel(t.store, 'fastlate', { rebuildSql: true });
      await appendHistory(t.store, 'fastlate', 30);
      await t.store.transaction(async (tx) => {
        await tx.query('set transaction isolation level repeatable read');
        await tx.query(`select * from ${schema}.rebuild_start('fastlate')`);
      });
      await appendHistory(t.store, 'fastlate', 10);
      const live = await rows(t.store, 'public.fastlate');
      const result = await t.store.rebuild('fastlate');
      expect(result).toMatchObject({ path: 'statement' });
      expect(result.rounds).toBeGreaterThanOrEqual(1);
      expect(await rows(t.store, 'public.fastlate')).toEqual(live);
    });

    it('refuses to run the rebuild statement outside a REPEATABLE READ transaction', async () => {
      await defineModel(t.store, 'fastrc', { rebuildSql: true });
      const error = await rejectionOf(t.store.query(`select * from ${schema}.rebuild_start('fastrc')`));
      expect(error).toBeInstanceOf(RebuildRefusedError);
      expect((error as RebuildRefusedError).hint).toContain('repeatable read');
    });

    it('marks a projection defined again with a new version as needing a rebuild, and live after it', async () => {
      await defineModel(t.store, 'versioned');
      await appendHistory(t.store, 'versioned', 10);
      expect(await stateOf(t.store, 'versioned')).toBe('live');

      await defineModel(t.store, 'versioned', { version: 2, create: false });
      const status = (await t.store.status()).projections.find((projection) => projection.name === 'versioned');
      expect(status).toMatchObject({ version: 2, builtVersion: 1, state: 'needs rebuild' });
      await defineModel(t.store, 'versioned', { version: 2, create: false });
      expect(await stateOf(t.store, 'versioned')).toBe('needs rebuild');

      await t.store.rebuild('versioned');
      expect((await t.store.status()).projections.find((projection) => projection.name === 'versioned')).toMatchObject({
        version: 2,
        builtVersion: 2,
        state: 'live',
      });
    });

    it('marks a projection defined over events it has not applied as needing a rebuild, and a full replay builds it', async () => {
      await t.store.execScript(modelSql(schema, 'late'));
      await t.store.execScript(`insert into events (type, uuid, body) values ('late_create', gen_random_uuid(), '{"name": "early"}')`);
      await defineModel(t.store, 'late', { create: false });
      expect(await stateOf(t.store, 'late')).toBe('needs rebuild');
      await t.store.replay('late', { types: ['late_create'] });
      expect(await stateOf(t.store, 'late')).toBe('needs rebuild');
      await t.store.replay('late');
      expect(await stateOf(t.store, 'late')).toBe('live');
    });

    it('records a failing handler as a failed rebuild, leaves the live tables alone, and resumes once the cause is fixed', async () => {
      await t.store.execScript(`
        create table public.blocked_streams (uuid uuid primary key);
        create table public.guarded (uuid uuid primary key, n int not null);
        create function public.guarded_count(e ${schema}.events) returns void
        language plpgsql set search_path = public, pg_temp
        as $$
        begin
          if exists (select 1 from blocked_streams b where b.uuid = e.uuid) then
            raise exception 'stream % is blocked', e.uuid;
          end if;
          insert into guarded as g (uuid, n) values (e.uuid, 1) on conflict (uuid) do update set n = g.n + 1;
        end;
        $$;`);
      await t.store.defineProjection({ name: 'guarded', handlers: { guarded_event: 'public.guarded_count' }, tables: ['public.guarded'] });
      const [ok, blocked] = [randomUUID(), randomUUID()];
      await t.store.append(ok, [{ type: 'guarded_event', body: {} }, { type: 'guarded_event', body: {} }]);
      await t.store.append(blocked, [{ type: 'guarded_event', body: {} }]);
      await t.store.query('insert into public.blocked_streams values ($1)', [blocked]);
      const live = await t.store.query('select uuid::text, n from public.guarded order by uuid');

      const error = await rejectionOf(t.store.rebuild('guarded'));
      expect(error).toBeInstanceOf(ProjectionHandlerError);
      expect(error).toMatchObject({ projection: 'guarded', eventType: 'guarded_event', stream: blocked, version: 1 });
      expect(await t.store.query('select uuid::text, n from public.guarded order by uuid')).toEqual(live);
      expect(await stateOf(t.store, 'guarded')).toBe('failed');
      expect((await progressOf(t.store, 'guarded'))!.error).toMatchObject({ sqlState: 'PE007' });

      await t.store.query('delete from public.blocked_streams');
      await t.store.rebuild('guarded');
      expect(await t.store.query('select uuid::text, n from public.guarded order by uuid')).toEqual(live);
      expect(await stateOf(t.store, 'guarded')).toBe('live');
    });

    it('stops a rebuild whose handler writes its table schema-qualified, leaving the live table as it was', async () => {
      await t.store.execScript(`
        create table public.qualified (uuid uuid primary key, n int not null);
        create function public.qualified_count(p_uuid uuid, p_body jsonb) returns void
        language plpgsql set search_path = public, pg_temp
        as $$ begin insert into public.qualified as q (uuid, n) values (p_uuid, 1) on conflict (uuid) do update set n = q.n + 1; end; $$;`);
      await t.store.defineProjection({ name: 'qualified', handlers: { qualified_event: 'public.qualified_count' }, tables: ['public.qualified'] });
      const stream = randomUUID();
      await t.store.append(stream, [{ type: 'qualified_event', body: {} }, { type: 'qualified_event', body: {} }]);

      const error = await rejectionOf(t.store.rebuild('qualified'));
      expect(error).toBeInstanceOf(LiveTableTouchedError);
      expect(error).toMatchObject({ projection: 'qualified', table: 'public.qualified', live: true });
      expect(await t.store.query('select uuid::text, n from public.qualified')).toEqual([{ uuid: stream, n: 2 }]);
      expect(await stateOf(t.store, 'qualified')).toBe('failed');
      expect(await t.store.cancelRebuild('qualified')).toBe(true);
      expect(await t.store.cancelRebuild('qualified')).toBe(false);
      expect(await stateOf(t.store, 'qualified')).toBe('live');
    });

    it('stops a rebuild whose handler writes a table that is not one of the projection\'s', async () => {
      await t.store.execScript(`
        create table public.side_effects (position bigint);
        create table public.sided (uuid uuid primary key);
        create function public.sided_event(e ${schema}.events) returns void
        language plpgsql set search_path = public, pg_temp
        as $$ begin insert into sided values (e.uuid) on conflict do nothing; insert into side_effects values (e.id); end; $$;`);
      await t.store.defineProjection({ name: 'sided', handlers: { sided_event: 'public.sided_event' }, tables: ['public.sided'] });
      await t.store.append(randomUUID(), [{ type: 'sided_event', body: {} }]);
      const error = await rejectionOf(t.store.rebuild('sided'));
      expect(error).toMatchObject({ code: 'LIVE_TABLE_TOUCHED', table: 'public.side_effects', live: false });
      expect(await t.store.query('select count(*)::int as n from public.side_effects')).toEqual([{ n: 1 }]);
      await t.store.cancelRebuild('sided');
    });

    it('refuses what a swap cannot carry over, naming the cause', async () => {
      await defineModel(t.store, 'viewed');
      await t.store.execScript('create view public.viewed_names as select name from public.viewed');
      const viewed = await rejectionOf(t.store.rebuild('viewed'));
      expect(viewed).toBeInstanceOf(RebuildRefusedError);
      expect(viewed).toMatchObject({ projection: 'viewed', table: 'public.viewed' });
      expect((viewed as Error).message).toContain('public.viewed_names');

      await defineModel(t.store, 'referenced');
      await t.store.execScript('create table public.referencing (uuid uuid references public.referenced (uuid))');
      expect(await rejectionOf(t.store.rebuild('referenced'))).toBeInstanceOf(RebuildRefusedError);

      await t.store.defineMaterializedView({ name: 'counted_view', query: `select type, count(*) as n from ${schema}.events group by type` });
      const view = await rejectionOf(t.store.rebuild('counted_view'));
      expect(view).toBeInstanceOf(RebuildRefusedError);
      expect((view as RebuildRefusedError).hint).toContain('refresh_materialized_view');

      expect(await rejectionOf(t.store.rebuild('no_such_projection'))).toBeInstanceOf(UnknownProjectionError);
      expect(await t.store.rebuildProgress('viewed')).toEqual([]);
    });

    it('copies foreign keys between the projection\'s own tables', async () => {
      await t.store.execScript(`
        create table public.orders (id uuid primary key, customer text not null);
        create table public.order_lines (order_id uuid not null references public.orders (id) on delete cascade, item text not null);
        create function public.order_placed(e ${schema}.events) returns void
        language plpgsql set search_path = public, pg_temp
        as $$
        begin
          insert into orders values (e.uuid, e.body ->> 'customer');
          insert into order_lines select e.uuid, item from jsonb_array_elements_text(e.body -> 'items') item;
        end;
        $$;`);
      await t.store.defineProjection({
        name: 'orders',
        handlers: { order_placed: 'public.order_placed' },
        tables: ['public.orders', 'public.order_lines'],
      });
      await t.store.append(randomUUID(), [{ type: 'order_placed', body: { customer: 'Ada', items: ['tea', 'cake'] } }]);
      await t.store.rebuild('orders');
      expect(await t.store.query('select count(*)::int as n from public.orders join public.order_lines on order_id = id')).toEqual([{ n: 2 }]);
      expect(
        await t.store.query(`select confrelid::regclass::text as target from pg_constraint where conrelid = 'public.order_lines'::regclass and contype = 'f'`),
      ).toEqual([{ target: 'orders' }]);
    });

    it('rebuilds from plain SQL with the rebuild_projection procedure', async () => {
      await defineModel(t.store, 'procedural', { rebuildSql: true });
      await appendHistory(t.store, 'procedural', 50);
      const live = await rows(t.store, 'public.procedural');
      await t.store.execScript(`call ${schema}.rebuild_projection('procedural', false, 25)`);
      expect(await rows(t.store, 'public.procedural')).toEqual(live);
      expect(await progressOf(t.store, 'procedural')).toMatchObject({ phase: 'done', path: 'statement' });
    });

    it('drops the shadow tables of an unfinished rebuild with its projection', async () => {
      await defineModel(t.store, 'dropped');
      await t.store.query(`select * from ${schema}.rebuild_start('dropped')`);
      expect(await t.store.query(`select 1 from pg_namespace where nspname = '${schema}_rebuild_dropped'`)).toHaveLength(1);
      await t.store.dropProjection('dropped', { dropTables: true });
      expect(await t.store.query(`select 1 from pg_namespace where nspname = '${schema}_rebuild_dropped'`)).toEqual([]);
    });

    describe('verify', () => {
      it('finds nothing in a projection that matches its events', async () => {
        const result = await t.store.verify('basic');
        expect(result).toMatchObject({ projection: 'basic', equal: true, ignoredColumns: [] });
        expect(result.tables).toEqual([
          expect.objectContaining({ table: 'public.basic', missing: 0, extra: 0, different: 0, key: ['uuid'] }),
        ]);
        expect(result.tables[0]!.liveRows).toBe(result.tables[0]!.rebuiltRows);
        expect(await t.store.query(`select nspname from pg_namespace where nspname like '${schema}_verify_%'`)).toEqual([]);
      });

      it('finds rows changed, removed and added behind the projection\'s back', async () => {
        const [changed, removed] = await t.store.query<{ uuid: string; name: string }>(
          'select uuid::text as uuid, name from public.basic order by uuid limit 2',
        );
        const ghost = randomUUID();
        await t.store.query('update public.basic set name = $1 where uuid = $2', ['tampered', changed!.uuid]);
        await t.store.query('delete from public.basic where uuid = $1', [removed!.uuid]);
        await t.store.query(`insert into public.basic (uuid, name, version) values ($1, 'ghost', 1)`, [ghost]);

        const result = await t.store.verify('basic');
        expect(result.equal).toBe(false);
        const [table] = result.tables;
        expect(table).toMatchObject({ missing: 1, extra: 1, different: 1 });
        expect(table!.samples.missing).toEqual([expect.objectContaining({ uuid: removed!.uuid })]);
        expect(table!.samples.extra).toEqual([expect.objectContaining({ uuid: ghost, name: 'ghost' })]);
        expect(table!.samples.different).toEqual([
          { live: expect.objectContaining({ uuid: changed!.uuid, name: 'tampered' }), rebuilt: expect.objectContaining({ uuid: changed!.uuid, name: changed!.name }) },
        ]);

        await t.store.replay('basic');
        expect((await t.store.verify('basic')).equal).toBe(true);
      });

      it('leaves ignored columns out of the comparison', async () => {
        await t.store.query(`update public.basic set updated_at = '2000-01-01' where uuid = (select uuid from public.basic order by uuid limit 1)`);
        expect((await t.store.verify('basic')).tables[0]).toMatchObject({ different: 1 });
        expect(await t.store.verify('basic', { ignoreColumns: ['updated_at'] })).toMatchObject({ equal: true, ignoredColumns: ['updated_at'] });
        const error = await rejectionOf(t.store.verify('basic', { ignoreColumns: ['no_such_column'] }));
        expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'ignore_columns' });
        await t.store.replay('basic');
      });

      it('verifies with the rebuild statement when the projection declares one', async () => {
        expect((await t.store.verify('procedural')).equal).toBe(true);
        await t.store.query(`delete from public.procedural where uuid = (select uuid from public.procedural order by uuid limit 1)`);
        expect((await t.store.verify('procedural')).tables[0]).toMatchObject({ missing: 1, extra: 0, different: 0 });
      });

      it('compares a materialized view with what its query returns now', async () => {
        await t.store.defineMaterializedView({
          name: 'basic_counts',
          query: `select type, count(*) as n from ${schema}.events where type like 'basic%' group by type`,
          uniqueColumns: ['type'],
        });
        expect((await t.store.verify('basic_counts')).equal).toBe(true);
        await t.store.append(randomUUID(), [{ type: 'basic_create', body: { name: 'one more' } }]);
        expect((await t.store.verify('basic_counts')).tables[0]).toMatchObject({ different: 1, missing: 0, extra: 0 });
        await t.store.refreshMaterializedView('basic_counts');
        expect((await t.store.verify('basic_counts')).equal).toBe(true);
      });
    });

    it('shows how many events a materialized view is behind', async () => {
      await t.store.defineMaterializedView({ name: 'all_types', query: `select distinct type from ${schema}.events` });
      const fresh = (await t.store.status()).projections.find((projection) => projection.name === 'all_types');
      expect(fresh).toMatchObject({ kind: 'materialized_view', staleEvents: 0, state: 'live' });
      await t.store.append(randomUUID(), [{ type: 'anything', body: {} }, { type: 'anything', body: {} }]);
      const stale = (await t.store.status()).projections.find((projection) => projection.name === 'all_types');
      expect(stale).toMatchObject({ staleEvents: 2, state: 'stale', stateText: 'stale (2 events)' });
      await t.store.refreshMaterializedView('all_types');
      expect(await stateOf(t.store, 'all_types')).toBe('live');
    });
  });
}

async function handledEvents(store: EventStore, name: string): Promise<number> {
  const [row] = await store.query<{ n: number }>(`select count(*)::int as n from ${store.schema}.events where type like $1`, [`${name}\\_%`]);
  return row?.n ?? 0;
}
