import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, ProjectionDefinitionError, ProjectionHandlerError } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { countEvents, rejectionOf, usersHandlers, usersReadModelSql } from './fixtures.js';

/**
 * The fixtures' users read model again, as `public.busers`, with one batch handler for
 * user_create and user_update: an insert for the creates, then one update per stream to its last
 * name. Every value comes from the events, so it must equal what the per-event handlers write.
 */
function batchUsersSql(schema: string): string {
  return `
    create table public.busers (
      uuid uuid primary key,
      name text,
      version bigint not null,
      updated_at timestamptz
    );

    create function public.busers_apply(p_events ${schema}.events[]) returns void
    language plpgsql
    set search_path = public, pg_temp
    as $$
    begin
      insert into busers (uuid, name, version)
      select e.uuid, e.body ->> 'name', 1 from unnest(p_events) e where e.type = 'user_create' order by e.id;
      update busers b set name = l.name, version = l.version, updated_at = l.inserted_at
        from (select distinct on (e.uuid) e.uuid, e.body ->> 'name' as name, e.version, e.inserted_at
                from unnest(p_events) e
               where e.type = 'user_update'
               order by e.uuid, e.id desc) l
       where b.uuid = l.uuid;
    end;
    $$;
  `;
}

/**
 * A read model that records what its batch handler `public.<name>_record` is given: one row per
 * call in `<name>_calls`, and each event of the call, in the order of the array, in `<name>_seen`.
 */
function recorderSql(schema: string, name: string): string {
  return `
    create table public.${name}_calls (call bigserial primary key, events int not null);
    create table public.${name}_seen (
      call bigint not null,
      ord int not null,
      position bigint not null,
      type text not null,
      stream uuid not null,
      version bigint not null,
      primary key (call, ord)
    );

    create function public.${name}_record(p_events ${schema}.events[]) returns void
    language plpgsql
    set search_path = public, pg_temp
    as $$
    declare
      v_call bigint;
    begin
      insert into ${name}_calls (events) values (cardinality(p_events)) returning call into v_call;
      insert into ${name}_seen (call, ord, position, type, stream, version)
      select v_call, i, (p_events[i]).id, (p_events[i]).type, (p_events[i]).uuid, (p_events[i]).version
        from generate_subscripts(p_events, 1) i;
    end;
    $$;
  `;
}

interface Seen {
  call: number;
  position: number;
  type: string;
}

/** What a recorder saw, in call order and, within a call, in the order of its array. */
async function seenEvents(store: EventStore, name: string): Promise<Seen[]> {
  const rows = await store.query<{ call: number; position: string; type: string }>(
    `select call::int as call, position::text as position, type from public.${name}_seen order by call, ord`,
  );
  return rows.map((row) => ({ call: row.call, position: Number(row.position), type: row.type }));
}

/** Sizes of the recorder's calls, in call order. */
async function callSizes(store: EventStore, name: string): Promise<number[]> {
  const rows = await store.query<{ events: number }>(`select events from public.${name}_calls order by call`);
  return rows.map((row) => row.events);
}

/** Positions of the stored events of these types, in position order. */
async function positionsOf(store: EventStore, types: string[], where = 'true'): Promise<number[]> {
  const rows = await store.query<{ position: string }>(
    `select e.id::text as position from ${store.schema}.events e where e.type = any($1) and ${where} order by e.id`,
    [types],
  );
  return rows.map((row) => Number(row.position));
}

function increasing(values: number[]): boolean {
  return values.every((value, index) => index === 0 || value > values[index - 1]!);
}

const USER_COLUMNS = 'uuid::text as uuid, name, version::int as version, updated_at';

export default function batchProjectionsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`batch handlers (${engine.name})`, () => {
    let t: TestStore;
    let schema: string;

    const perEventUsers = () => t.store.query(`select ${USER_COLUMNS} from public.users order by uuid`);
    const batchUsers = () => t.store.query(`select ${USER_COLUMNS} from public.busers order by uuid`);

    beforeAll(async () => {
      t = await engine.createStore();
      schema = t.store.schema;
      await t.store.execScript(`
        ${usersReadModelSql(schema)}
        ${batchUsersSql(schema)}
        ${recorderSql(schema, 'seen')}
        ${recorderSql(schema, 'bulk')}
      `);
      await t.store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
      await t.store.defineProjection({
        name: 'busers',
        handlers: { user_create: 'public.busers_apply', user_update: 'public.busers_apply' },
        tables: ['public.busers'],
        streamColumn: 'uuid',
      });
      await t.store.defineProjection({
        name: 'seen',
        handlers: { seen_a: 'public.seen_record', seen_b: 'public.seen_record' },
        tables: ['public.seen_calls', 'public.seen_seen'],
      });
      await t.store.defineProjection({
        name: 'bulk',
        handlers: { bulk_a: 'public.bulk_record', bulk_b: 'public.bulk_record' },
        tables: ['public.bulk_calls', 'public.bulk_seen'],
      });
    });
    afterAll(async () => {
      await t?.dispose();
    });

    describe('the same read model as per-event handlers', () => {
      it('lists a batch handler with its array signature', async () => {
        const [busers] = (await t.store.listProjections()).filter((projection) => projection.name === 'busers');
        expect(busers).toMatchObject({
          kind: 'trigger',
          tables: ['public.busers'],
          streamColumn: 'uuid',
          handlers: {
            user_create: `public.busers_apply(${schema}.events[])`,
            user_update: `public.busers_apply(${schema}.events[])`,
          },
        });
      });

      it('through store.append batches', async () => {
        const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
        await t.store.append(a, [
          { type: 'user_create', body: { name: 'a1' } },
          { type: 'user_update', body: { name: 'a2' } },
          { type: 'user_login', body: { name: 'not a rename' } },
          { type: 'user_update', body: { name: 'a3' } },
        ]);
        await t.store.append(b, [{ type: 'user_create', body: { name: 'b1' } }]);
        await t.store.append(b, [
          { type: 'user_update', body: { name: 'b2' } },
          { type: 'user_update', body: {} },
        ]);
        await t.store.append(c, [{ type: 'user_create', body: { name: 'c1' } }]);
        await t.store.append(a, [{ type: 'user_update', body: { name: 'a4' } }]);

        const rows = await batchUsers();
        expect(rows).toEqual(await perEventUsers());
        expect(rows.find((row) => row.uuid === a)).toMatchObject({ name: 'a4', version: 5 });
        expect(rows.find((row) => row.uuid === b)).toMatchObject({ name: null, version: 3 });
        expect(rows.find((row) => row.uuid === c)).toMatchObject({ name: 'c1', version: 1, updated_at: null });
      });

      it('through one multi-row plain INSERT of interleaved streams', async () => {
        const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
        await t.store.execScript(`
          insert into events (type, uuid, body) values
            ('user_create', '${a}', '{"name": "a1"}'),
            ('user_create', '${b}', '{"name": "b1"}'),
            ('user_update', '${a}', '{"name": "a2"}'),
            ('user_login',  '${b}', '{"name": "not a rename"}'),
            ('user_update', '${b}', '{"name": "b2"}'),
            ('user_update', '${a}', '{"name": "a3"}'),
            ('user_create', '${c}', '{"name": "c1"}'),
            ('user_update', '${b}', '{"name": "b3"}');
        `);
        const rows = await batchUsers();
        expect(rows).toEqual(await perEventUsers());
        const ours = new Set<unknown>([a, b, c]);
        expect(rows.filter((row) => ours.has(row.uuid)).map((row) => [row.uuid, row.name, row.version])).toEqual(
          expect.arrayContaining([
            [a, 'a3', 3],
            [b, 'b3', 4],
            [c, 'c1', 1],
          ]),
        );
      });

      it('through single-event statements', async () => {
        const [a, b] = [randomUUID(), randomUUID()];
        await t.store.execScript(`
          insert into events (type, uuid, body) values ('user_create', '${a}', '{"name": "a1"}');
          insert into events (type, uuid, body) values ('user_update', '${a}', '{"name": "a2"}');
          insert into events (type, uuid, body) values ('user_create', '${b}', '{"name": "b1"}');
          insert into events (type, uuid, body) values ('user_update', '${a}', '{"name": "a3"}');
        `);
        await t.store.append(b, [{ type: 'user_update', body: { name: 'b2' } }]);
        await t.store.append(b, [{ type: 'user_update', body: { name: 'b3' } }], { expectedVersion: 2 });
        const rows = await batchUsers();
        expect(rows).toEqual(await perEventUsers());
        expect(rows.find((row) => row.uuid === a)).toMatchObject({ name: 'a3', version: 3 });
        expect(rows.find((row) => row.uuid === b)).toMatchObject({ name: 'b3', version: 3 });
      });

      it('through a transaction of several statements', async () => {
        const stream = randomUUID();
        await t.store.transaction(async (tx) => {
          await t.store.append(stream, [{ type: 'user_create', body: { name: 'first' } }], { client: tx });
          await tx.query(`insert into ${schema}.events (type, uuid, body) values ('user_update', $1, '{"name": "second"}')`, [stream]);
          await t.store.append(stream, [{ type: 'user_update', body: { name: 'third' } }], { client: tx });
        });
        expect(await batchUsers()).toEqual(await perEventUsers());
        expect((await batchUsers()).find((row) => row.uuid === stream)).toMatchObject({ name: 'third', version: 3 });
      });
    });

    describe('what a batch handler is given', () => {
      it('gives a batch handler each statement’s events of its types, once, in position order', async () => {
        const [a, b] = [randomUUID(), randomUUID()];
        const callsBefore = (await callSizes(t.store, 'seen')).length;
        await t.store.append(a, [
          { type: 'seen_a', body: {} },
          { type: 'seen_other', body: {} },
          { type: 'seen_b', body: {} },
          { type: 'seen_a', body: {} },
        ]);
        await t.store.execScript(`
          insert into events (type, uuid, body) values
            ('seen_b', '${b}', '{}'), ('seen_a', '${a}', '{}'), ('seen_other', '${b}', '{}'), ('seen_a', '${b}', '{}');
        `);
        const sizes = await callSizes(t.store, 'seen');
        expect(sizes.slice(callsBefore)).toEqual([3, 3]);
        const seen = await seenEvents(t.store, 'seen');
        expect(seen.map((event) => event.position)).toEqual(await positionsOf(t.store, ['seen_a', 'seen_b']));
        expect(increasing(seen.map((event) => event.position))).toBe(true);
      });

      it('never hands it events of types it does not handle, and is not called for a statement without any', async () => {
        const stream = randomUUID();
        const callsBefore = (await callSizes(t.store, 'seen')).length;
        await t.store.append(stream, [
          { type: 'seen_other', body: {} },
          { type: 'user_login', body: {} },
        ]);
        await t.store.execScript(`insert into events (type, uuid, body) values ('seen_other', '${stream}', '{}')`);
        expect((await callSizes(t.store, 'seen')).length).toBe(callsBefore);
        const seen = await seenEvents(t.store, 'seen');
        expect(new Set(seen.map((event) => event.type))).toEqual(new Set(['seen_a', 'seen_b']));
      });

      it('projects a statement of 25,000 handled events in chunks of at most 10,000, completely and in position order', async () => {
        // 2,500 streams of 11 events each, interleaved; one event per stream is of a type the projection does not handle.
        await t.store.execScript(`
          insert into events (type, uuid, body)
          select case when (s + v) % 11 = 0 then 'bulk_other' when v % 2 = 0 then 'bulk_b' else 'bulk_a' end,
                 md5('bulk stream ' || s)::uuid,
                 jsonb_build_object('s', s, 'v', v)
            from generate_series(1, 11) v, generate_series(1, 2500) s
           order by v, s;
        `);
        const handled = await positionsOf(t.store, ['bulk_a', 'bulk_b']);
        expect(handled).toHaveLength(25_000);
        const sizes = await callSizes(t.store, 'bulk');
        expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(25_000);
        expect(sizes.length).toBeGreaterThanOrEqual(3);
        expect(sizes.every((size) => size > 0 && size <= 10_000)).toBe(true);
        const seen = await seenEvents(t.store, 'bulk');
        expect(seen.map((event) => event.position)).toEqual(handled);
        expect(seen.every((event) => event.type !== 'bulk_other')).toBe(true);

        const [versions] = await t.store.query<{ wrong: number; streams: number }>(`
          select count(*) filter (where version <> n)::int as wrong, count(distinct uuid)::int as streams
            from (select uuid, version, row_number() over (partition by uuid order by id) as n
                    from ${schema}.events where type like 'bulk%') e`);
        expect(versions).toEqual({ wrong: 0, streams: 2500 });
      }, 180_000);

      it('gives two batch functions of one projection only the events of their own types', async () => {
        await t.store.execScript(`
          create table public.split_seen (fn text not null, call int not null, ord int not null, position bigint not null, type text not null);
          create table public.split_calls (n int not null);
          insert into public.split_calls values (0);
          create function public.split_first(p_events ${schema}.events[]) returns void
          language plpgsql set search_path = public, pg_temp
          as $$
          declare v_call int;
          begin
            update split_calls set n = n + 1 returning n into v_call;
            insert into split_seen select 'first', v_call, i, (p_events[i]).id, (p_events[i]).type from generate_subscripts(p_events, 1) i;
          end;
          $$;
          create function public.split_second(p_events ${schema}.events[]) returns void
          language plpgsql set search_path = public, pg_temp
          as $$
          declare v_call int;
          begin
            update split_calls set n = n + 1 returning n into v_call;
            insert into split_seen select 'second', v_call, i, (p_events[i]).id, (p_events[i]).type from generate_subscripts(p_events, 1) i;
          end;
          $$;
        `);
        await t.store.defineProjection({
          name: 'split',
          handlers: { split_a: 'public.split_first', split_c: 'public.split_first', split_b: 'public.split_second' },
          tables: ['public.split_seen', 'public.split_calls'],
        });
        const [a, b] = [randomUUID(), randomUUID()];
        await t.store.append(a, [
          { type: 'split_b', body: {} },
          { type: 'split_a', body: {} },
          { type: 'split_other', body: {} },
          { type: 'split_c', body: {} },
          { type: 'split_b', body: {} },
        ]);
        await t.store.execScript(`
          insert into events (type, uuid, body) values
            ('split_c', '${b}', '{}'), ('split_b', '${a}', '{}'), ('split_a', '${b}', '{}'), ('split_other', '${a}', '{}');
          insert into events (type, uuid, body) values ('split_b', '${b}', '{}');
        `);

        const seen = await t.store.query<{ fn: string; call: number; position: string; type: string }>(
          'select fn, call, position::text as position, type from public.split_seen order by call, ord',
        );
        const of = (fn: string) => seen.filter((row) => row.fn === fn);
        expect(new Set(of('first').map((row) => row.type))).toEqual(new Set(['split_a', 'split_c']));
        expect(new Set(of('second').map((row) => row.type))).toEqual(new Set(['split_b']));
        expect(of('first').map((row) => Number(row.position))).toEqual(await positionsOf(t.store, ['split_a', 'split_c']));
        expect(of('second').map((row) => Number(row.position))).toEqual(await positionsOf(t.store, ['split_b']));
        // One call per function per statement that has events of its types: the last statement only reaches the second.
        expect(new Set(of('first').map((row) => row.call)).size).toBe(2);
        expect(new Set(of('second').map((row) => row.call)).size).toBe(3);
      });
    });

    describe('replay, rebuild and verify', () => {
      const usersTypes = ['user_create', 'user_update'];

      it('rebuilds the read model with a full replay', async () => {
        const live = await batchUsers();
        expect(live).toEqual(await perEventUsers());
        const [first, second] = live as [{ uuid: string }, { uuid: string }];
        await t.store.query(`update public.busers set name = 'tampered', version = 99 where uuid = $1`, [first.uuid]);
        await t.store.query('delete from public.busers where uuid = $1', [second.uuid]);
        await t.store.query(`insert into public.busers (uuid, name, version) values ($1, 'junk', 1)`, [randomUUID()]);

        const result = await t.store.replay('busers', { batchSize: 4 });
        expect(result).toEqual({ projection: 'busers', applied: (await positionsOf(t.store, usersTypes)).length });
        expect(await batchUsers()).toEqual(live);
      });

      it('calls the batch handler once per replay batch, in position order, with every handled event', async () => {
        const result = await t.store.replay('seen', { batchSize: 3 });
        const handled = await positionsOf(t.store, ['seen_a', 'seen_b']);
        expect(result.applied).toBe(handled.length);
        const sizes = await callSizes(t.store, 'seen');
        expect(sizes).toHaveLength(Math.ceil(handled.length / 3));
        expect(sizes.every((size) => size > 0 && size <= 3)).toBe(true);
        expect((await seenEvents(t.store, 'seen')).map((event) => event.position)).toEqual(handled);
      });

      it("replays one stream: only that stream's rows are deleted and rebuilt", async () => {
        const live = await batchUsers();
        const [a, b] = live.filter((row) => row.version !== 1).map((row) => row.uuid as string) as [string, string];
        await t.store.query(`update public.busers set name = 'tampered a' where uuid = $1`, [a]);
        await t.store.query(`update public.busers set name = 'tampered b' where uuid = $1`, [b]);

        const result = await t.store.replay('busers', { stream: a });
        expect(result.applied).toBe((await positionsOf(t.store, usersTypes, `uuid = '${a}'`)).length);
        const rows = await batchUsers();
        expect(rows.find((row) => row.uuid === a)).toEqual(live.find((row) => row.uuid === a));
        expect(rows.find((row) => row.uuid === b)?.name).toBe('tampered b');

        await t.store.replay('busers', { stream: b });
        expect(await batchUsers()).toEqual(live);
      });

      it('replays by types, re-applying only events of those types and clearing nothing', async () => {
        const live = await batchUsers();
        const renamed = live.find((row) => row.version !== 1)!.uuid as string;
        await t.store.query(`update public.busers set name = 'tampered' where uuid = $1`, [renamed]);
        const result = await t.store.replay('busers', { types: ['user_update'], batchSize: 2 });
        expect(result.applied).toBe((await positionsOf(t.store, ['user_update'])).length);
        expect(await batchUsers()).toEqual(live);

        await t.store.replay('seen');
        const calls = (await callSizes(t.store, 'seen')).length;
        await t.store.replay('seen', { types: ['seen_b'] });
        const again = (await seenEvents(t.store, 'seen')).filter((event) => event.call > calls);
        expect(again.map((event) => event.position)).toEqual(await positionsOf(t.store, ['seen_b']));
      });

      it('replays from a position, re-applying only the events at or after it', async () => {
        await t.store.replay('seen');
        const handled = await positionsOf(t.store, ['seen_a', 'seen_b']);
        const from = handled[Math.floor(handled.length / 2)]!;
        const calls = (await callSizes(t.store, 'seen')).length;
        const result = await t.store.replay('seen', { fromPosition: from, batchSize: 2 });
        expect(result.applied).toBe(handled.filter((position) => position >= from).length);
        const again = (await seenEvents(t.store, 'seen')).filter((event) => event.call > calls);
        expect(again.map((event) => event.position)).toEqual(handled.filter((position) => position >= from));
        expect((await callSizes(t.store, 'seen')).slice(calls).every((size) => size <= 2)).toBe(true);

        const live = await batchUsers();
        const [last] = await t.store.query<{ position: string; uuid: string }>(
          `select e.id::text as position, e.uuid::text as uuid from ${schema}.events e where e.type = 'user_update' order by e.id desc limit 1`,
        );
        await t.store.query(`update public.busers set name = 'tampered' where uuid = $1`, [last!.uuid]);
        await t.store.replay('busers', { fromPosition: Number(last!.position) });
        expect(await batchUsers()).toEqual(live);
      });

      it('rebuilds online into the same read model, calling the handler per batch', async () => {
        const live = await batchUsers();
        const result = await t.store.rebuild('busers', { batchSize: 5 });
        expect(result).toMatchObject({ projection: 'busers', path: 'handlers' });
        expect(result.applied).toBe((await positionsOf(t.store, usersTypes)).length);
        expect(await batchUsers()).toEqual(live);
        expect(await batchUsers()).toEqual(await perEventUsers());

        await t.store.rebuild('seen', { batchSize: 4 });
        const sizes = await callSizes(t.store, 'seen');
        expect(sizes.every((size) => size > 0 && size <= 4)).toBe(true);
        expect((await seenEvents(t.store, 'seen')).map((event) => event.position)).toEqual(await positionsOf(t.store, ['seen_a', 'seen_b']));

        const stream = randomUUID();
        await t.store.append(stream, [
          { type: 'user_create', body: { name: 'after the swap' } },
          { type: 'user_update', body: { name: 'renamed after the swap' } },
        ]);
        expect((await batchUsers()).find((row) => row.uuid === stream)).toMatchObject({ name: 'renamed after the swap', version: 2 });
        expect(await batchUsers()).toEqual(await perEventUsers());
      });

      it('verifies the read model against its events, and reports a row changed behind its back', async () => {
        expect(await t.store.verify('busers')).toMatchObject({ projection: 'busers', equal: true });
        const [row] = await batchUsers();
        await t.store.query(`update public.busers set name = 'tampered' where uuid = $1`, [row!.uuid]);
        const result = await t.store.verify('busers');
        expect(result.equal).toBe(false);
        expect(result.tables).toEqual([expect.objectContaining({ table: 'public.busers', missing: 0, extra: 0, different: 1 })]);
        await t.store.replay('busers', { stream: row!.uuid as string });
        expect(await t.store.verify('busers')).toMatchObject({ equal: true });
      });
    });

    describe('definition rules', () => {
      beforeAll(async () => {
        await t.store.execScript(`
          create table public.mixed (uuid uuid primary key, n int not null);
          create function public.mixed_batch(p_events ${schema}.events[]) returns void
          language plpgsql set search_path = public, pg_temp
          as $$
          begin
            insert into mixed as m (uuid, n) select e.uuid, count(*) from unnest(p_events) e group by e.uuid
            on conflict (uuid) do update set n = m.n + excluded.n;
          end;
          $$;
          create function public.mixed_one(e ${schema}.events) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin update mixed set n = n + 100 where uuid = e.uuid; end; $$;
          create function public.mixed_seed(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin update mixed set n = n + 1000 where uuid = p_uuid; end; $$;
        `);
        await t.store.defineProjection({ name: 'mixed', handlers: { mixed_a: 'public.mixed_batch' }, tables: ['public.mixed'] });
      });

      async function mixedDefinition() {
        const [mixed] = (await t.store.listProjections()).filter((projection) => projection.name === 'mixed');
        const [code] = await t.store.query<{ source: string }>(
          `select prosrc as source from pg_proc where oid = '${schema}.tg_events__project_mixed()'::regprocedure`,
        );
        return { handlers: mixed?.handlers, version: mixed?.version, source: code?.source };
      }

      it('refuses a projection that mixes a batch handler with per-event handlers, keeping the previous definition', async () => {
        const before = await mixedDefinition();
        expect(before.handlers).toEqual({ mixed_a: `public.mixed_batch(${schema}.events[])` });

        for (const perEvent of ['public.mixed_one', 'public.mixed_seed']) {
          const error = await rejectionOf(
            t.store.defineProjection({
              name: 'mixed',
              handlers: { mixed_a: 'public.mixed_batch', mixed_b: perEvent },
              tables: ['public.mixed'],
              version: 2,
            }),
          );
          expect(error).toBeInstanceOf(ProjectionDefinitionError);
          expect(error).toMatchObject({ code: 'INVALID_PROJECTION' });
          expect((error as { cause?: { code?: string } }).cause?.code).toBe('PE006');
          expect((error as Error).message).toContain('mixed');
          expect(await mixedDefinition()).toEqual(before);
        }

        const stream = randomUUID();
        await t.store.append(stream, [
          { type: 'mixed_a', body: {} },
          { type: 'mixed_b', body: {} },
          { type: 'mixed_a', body: {} },
        ]);
        expect(await t.store.query('select n from public.mixed where uuid = $1', [stream])).toEqual([{ n: 2 }]);
      });

      it('refuses a new projection that mixes them, creating nothing', async () => {
        const error = await rejectionOf(
          t.store.defineProjection({
            name: 'mixed_new',
            handlers: { mixed_a: 'public.mixed_one', mixed_b: 'public.mixed_batch' },
            tables: ['public.mixed'],
          }),
        );
        expect(error).toBeInstanceOf(ProjectionDefinitionError);
        expect((await t.store.listProjections()).map((projection) => projection.name)).not.toContain('mixed_new');
        const triggers = await t.store.query(`select 1 from pg_trigger where tgrelid = '${schema}.events'::regclass and tgname = 'project_mixed_new'`);
        expect(triggers).toEqual([]);
      });

      it('refuses a batch handler that does not pin search_path, or pins it without pg_temp last', async () => {
        await t.store.execScript(`
          create table public.unpinned (uuid uuid);
          create function public.unpinned_batch(p_events ${schema}.events[]) returns void
          language plpgsql
          as $$ begin insert into unpinned select e.uuid from unnest(p_events) e; end; $$;
          create function public.temp_first_batch(p_events ${schema}.events[]) returns void
          language plpgsql set search_path = pg_temp, public
          as $$ begin insert into unpinned select e.uuid from unnest(p_events) e; end; $$;
        `);
        const unpinned = await rejectionOf(
          t.store.defineProjection({ name: 'unpinned', handlers: { unpinned_a: 'public.unpinned_batch' }, tables: ['public.unpinned'] }),
        );
        expect(unpinned).toBeInstanceOf(ProjectionDefinitionError);
        expect((unpinned as Error).message).toMatch(/search_path/);
        const tempFirst = await rejectionOf(
          t.store.defineProjection({ name: 'unpinned', handlers: { unpinned_a: 'public.temp_first_batch' }, tables: ['public.unpinned'] }),
        );
        expect(tempFirst).toBeInstanceOf(ProjectionDefinitionError);
        expect((tempFirst as Error).message).toMatch(/pg_temp last/);
        expect((await t.store.listProjections()).map((projection) => projection.name)).not.toContain('unpinned');
      });
    });

    describe('a batch handler that raises', () => {
      beforeAll(async () => {
        await t.store.execScript(`
          create table public.picky (uuid uuid primary key, n int not null);
          create function public.picky_apply(p_events ${schema}.events[]) returns void
          language plpgsql set search_path = public, pg_temp
          as $$
          begin
            insert into picky as p (uuid, n) select e.uuid, count(*) from unnest(p_events) e group by e.uuid
            on conflict (uuid) do update set n = p.n + excluded.n;
            if exists (select 1 from unnest(p_events) e where (e.body ->> 'fail')::boolean) then
              raise exception 'picky refuses a failing event' using errcode = 'P0042';
            end if;
          end;
          $$;
        `);
        await t.store.defineProjection({ name: 'picky', handlers: { picky_event: 'public.picky_apply' }, tables: ['public.picky'] });
      });

      async function lastPosition(): Promise<number> {
        const [row] = await t.store.query<{ id: string }>(`select coalesce(max(id), 0)::text as id from ${schema}.events`);
        return Number(row!.id);
      }

      it('fails the append with ProjectionHandlerError naming the projection and the batch, and stores nothing', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'picky_event', body: {} }]);
        const before = await countEvents(t.store);
        const model = await t.store.query('select * from public.picky order by uuid');
        const last = await lastPosition();

        const error = await rejectionOf(
          t.store.append(stream, [
            { type: 'picky_event', body: { n: 1 } },
            { type: 'picky_other', body: {} },
            { type: 'picky_event', body: { fail: true } },
            { type: 'picky_event', body: { n: 3 } },
          ]),
        );
        expect(error).toBeInstanceOf(ProjectionHandlerError);
        expect(error).toMatchObject({
          code: 'PROJECTION_FAILED',
          projection: 'picky',
          eventType: 'picky_event',
          stream,
          version: 2,
          sqlState: 'P0042',
        });
        expect((error as Error).message).toContain('picky');
        expect((error as Error).message).toContain('picky refuses a failing event');
        const cause = (error as { cause?: { code?: string; message?: string; detail?: string } }).cause;
        expect(cause?.code).toBe('PE007');
        const detail = JSON.parse(cause!.detail!) as Record<string, unknown>;
        expect(detail).toMatchObject({ projection: 'picky', stream, version: 2, events: 3, sqlstate: 'P0042' });
        expect(detail.position).toBeGreaterThan(last);
        expect(detail.last_position).toBeGreaterThan(detail.position as number);
        expect(cause!.message).toContain(`positions ${String(detail.position)} to ${String(detail.last_position)}`);
        expect(error).toMatchObject({
          position: detail.position,
          batch: { lastPosition: detail.last_position, events: 3 },
        });
        expect((error as Error).message).toContain(`a batch of 3 events (positions ${String(detail.position)} to ${String(detail.last_position)})`);

        expect(await countEvents(t.store)).toBe(before);
        expect(await t.store.readStream(stream)).toHaveLength(1);
        expect(await t.store.query('select * from public.picky order by uuid')).toEqual(model);
      });

      it('fails a plain INSERT the same way', async () => {
        const stream = randomUUID();
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.execScript(`
            insert into events (type, uuid, body) values
              ('picky_event', '${stream}', '{}'), ('picky_event', '${stream}', '{"fail": true}');
          `),
        );
        expect(error).toBeInstanceOf(ProjectionHandlerError);
        expect(error).toMatchObject({ projection: 'picky', stream, version: 1, sqlState: 'P0042' });
        expect(await countEvents(t.store)).toBe(before);
        expect(await t.store.query('select * from public.picky where uuid = $1', [stream])).toEqual([]);
      });

      it('fails a replay the same way, leaving the read model as it was', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'picky_event', body: {} }]);
        const model = await t.store.query('select * from public.picky order by uuid');
        await t.store.execScript(`
          create or replace function public.picky_apply(p_events ${schema}.events[]) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin raise exception 'picky refuses everything now' using errcode = 'P0043'; end; $$;
        `);
        const error = await rejectionOf(t.store.replay('picky'));
        expect(error).toBeInstanceOf(ProjectionHandlerError);
        expect(error).toMatchObject({ projection: 'picky', eventType: 'picky_event', version: 1, sqlState: 'P0043' });
        expect(await t.store.query('select * from public.picky order by uuid')).toEqual(model);
      });
    });
  });
}
