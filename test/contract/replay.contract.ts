import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  ProjectionHandlerError,
  type ReplayProgress,
  ReplayRefusedError,
  type StoredEvent,
} from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { countEvents, rejectionOf, tableRows, usersHandlers, usersReadModelSql } from './fixtures.js';

/** A user as the prop_users read model holds it. */
interface PropUser {
  name: string;
  renames: number;
}

type PropEvent = { type: 'prop_create' | 'prop_rename' | 'prop_delete'; body: { name: string } };

/** The prop_users handlers, written again in TypeScript. */
function applyPropEvent(model: Map<number | string, PropUser>, key: number | string, event: PropEvent): void {
  const current = model.get(key);
  if (event.type === 'prop_create') model.set(key, { name: event.body.name, renames: 0 });
  else if (event.type === 'prop_rename') {
    if (current) model.set(key, { name: event.body.name, renames: current.renames + 1 });
  } else model.delete(key);
}

export default function replayContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`replay (${engine.name})`, () => {
    let t: TestStore;
    let schema: string;
    const streams = Array.from({ length: 4 }, () => randomUUID());

    beforeAll(async () => {
      t = await engine.createStore();
      schema = t.store.schema;
      await t.store.execScript(`
        ${usersReadModelSql(schema)}

        create table public.audit_log (position bigint not null, stream uuid not null, type text not null);
        create function public.audit_event(e ${schema}.events) returns void
        language plpgsql set search_path = public, pg_temp
        as $$ begin insert into audit_log (position, stream, type) values (e.id, e.uuid, e.type); end; $$;
      `);
      await t.store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
      await t.store.defineProjection({
        name: 'audit',
        handlers: { user_create: 'public.audit_event', user_update: 'public.audit_event' },
        tables: ['public.audit_log'],
      });
      const [a, b, c, d] = streams as [string, string, string, string];
      await t.store.append(a, [{ type: 'user_create', body: { name: 'a1' } }]);
      await t.store.append(b, [{ type: 'user_create', body: { name: 'b1' } }, { type: 'user_update', body: { name: 'b2' } }]);
      await t.store.append(a, [{ type: 'user_update', body: { name: 'a2' } }]);
      await t.store.append(c, [{ type: 'user_create', body: { name: 'c1' } }, { type: 'user_login', body: {} }]);
      await t.store.append(d, [{ type: 'user_create', body: { name: 'd1' } }, { type: 'user_delete', body: {} }]);
      await t.store.append(b, [{ type: 'user_update', body: { name: 'b3' } }]);
      await t.store.append(c, [{ type: 'user_update', body: { name: 'c2' } }]);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    async function handledCount(types: string[], where = 'true'): Promise<number> {
      const [row] = await t.store.query<{ n: number }>(
        `select count(*)::int as n from ${schema}.events where type = any($1) and ${where}`,
        [types],
      );
      return row!.n;
    }

    const usersTypes = Object.keys(usersHandlers);
    const users = () => tableRows(t.store, 'public.users', 'uuid');

    describe('a full replay', () => {
      it('rebuilds exactly the rows the live triggers wrote', async () => {
        const live = await users();
        expect(live.map((row) => row.name).sort()).toEqual(['a2', 'b3', 'c2']);
        await t.store.query(`update public.users set name = 'tampered', version = 99 where uuid = $1`, [streams[0]]);
        await t.store.query(`delete from public.users where uuid = $1`, [streams[1]]);
        await t.store.query(`insert into public.users (uuid, name, version) values ($1, 'junk', 1)`, [randomUUID()]);

        const result = await t.store.replay('users');
        expect(result).toEqual({ projection: 'users', applied: await handledCount(usersTypes) });
        expect(await users()).toEqual(live);
      });

      it('records when the projection was last replayed', async () => {
        const [users] = (await t.store.listProjections()).filter((projection) => projection.name === 'users');
        expect(users!.lastReplayedAt).toBeInstanceOf(Date);
      });

      it('reports progress as applied of total, ending at the total', async () => {
        const calls: ReplayProgress[] = [];
        const result = await t.store.replay('users', { batchSize: 2, onProgress: (progress) => calls.push({ ...progress }) });
        const total = await handledCount(usersTypes);
        expect(result.applied).toBe(total);
        expect(calls[0]).toEqual({ applied: 0, total });
        expect(calls.at(-1)).toEqual({ applied: total, total });
        expect(calls.length).toBe(1 + Math.ceil(total / 2));
        for (const [index, call] of calls.entries()) {
          expect(call.total).toBe(total);
          if (index > 0) expect(call.applied).toBeGreaterThan(calls[index - 1]!.applied);
        }
      });

      it('applies nothing and reports a total of 0 for a projection without matching events', async () => {
        await t.store.execScript(`
          create table public.never (uuid uuid);
          create function public.never_applied(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp as $$ begin insert into never values (p_uuid); end; $$;`);
        await t.store.defineProjection({ name: 'never', handlers: { never_happens: 'public.never_applied' }, tables: ['public.never'] });
        const calls: ReplayProgress[] = [];
        expect(await t.store.replay('never', { onProgress: (progress) => calls.push(progress) })).toEqual({
          projection: 'never',
          applied: 0,
        });
        expect(calls).toEqual([{ applied: 0, total: 0 }]);
      });
    });

    describe('what a full replay clears', () => {
      // numbered: an identity column and a serial; numbered_notes references it (a foreign key
      // between two tables of the projection), listed after it, so the parent is emptied first.
      beforeAll(async () => {
        await t.store.execScript(`
          create table public.numbered (
            id bigint generated always as identity primary key,
            n serial not null,
            uuid uuid not null,
            name text not null
          );
          create table public.numbered_notes (
            id int generated by default as identity primary key,
            numbered_id bigint not null references public.numbered (id),
            uuid uuid not null
          );
          create table public.numbered_poison (on_since timestamptz);
          create function public.numbered_add(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp
          as $$
          declare
            v_id bigint;
          begin
            if exists (select 1 from numbered_poison) then
              raise exception 'poisoned numbering' using errcode = 'P0001';
            end if;
            insert into numbered (uuid, name) values (p_uuid, p_body ->> 'name') returning id into v_id;
            insert into numbered_notes (numbered_id, uuid) values (v_id, p_uuid);
          end;
          $$;`);
        await t.store.defineProjection({
          name: 'numbered',
          handlers: { numbered_add: 'public.numbered_add' },
          tables: ['public.numbered', 'public.numbered_notes'],
          streamColumn: 'uuid',
        });
        for (const name of ['one', 'two', 'three']) await t.store.append(randomUUID(), [{ type: 'numbered_add', body: { name } }]);
      });

      const numbered = () =>
        t.store.query<Record<string, unknown>>(
          `select n.id::int as id, n.n, n.uuid, n.name, o.id as note, o.numbered_id::int as numbered_id
             from public.numbered n left join public.numbered_notes o on o.numbered_id = n.id order by n.id`,
        );

      it('restarts identity columns and serials, so that the rows are numbered as the first build numbered them', async () => {
        const built = await numbered();
        expect(built.map((row) => [row.id, row.n, row.note])).toEqual([[1, 1, 1], [2, 2, 2], [3, 3, 3]]);
        await t.store.query(`insert into public.numbered (uuid, name) select gen_random_uuid(), 'junk' from generate_series(1, 5)`);
        await t.store.query(`delete from public.numbered_notes where numbered_id = 1`);
        await t.store.query(`delete from public.numbered where id = 1`);

        await t.store.replay('numbered');
        expect(await numbered()).toEqual(built);
      });

      it('leaves the numbers where they were when the replay fails', async () => {
        const before = await numbered();
        await t.store.query('insert into public.numbered_poison values (now())');
        await expect(t.store.replay('numbered')).rejects.toBeInstanceOf(ProjectionHandlerError);
        await t.store.query('delete from public.numbered_poison');
        expect(await numbered()).toEqual(before);

        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'numbered_add', body: { name: 'four' } }]);
        expect((await numbered()).at(-1)).toEqual({ id: 4, n: 4, uuid: stream, name: 'four', note: 4, numbered_id: 4 });
      });

      it('refuses, as TRUNCATE does, to empty a table that rows outside the projection reference, changing nothing', async () => {
        await t.store.execScript(`
          create table public.numbered_refs (numbered_id bigint references public.numbered (id) on delete cascade);
          insert into public.numbered_refs values (2);`);
        try {
          const before = await numbered();
          expect(await rejectionOf(t.store.replay('numbered'))).toMatchObject({ code: '0A000' });
          expect(await numbered()).toEqual(before);
          expect(await t.store.query('select numbered_id::int as numbered_id from public.numbered_refs')).toEqual([{ numbered_id: 2 }]);
        } finally {
          await t.store.execScript('drop table public.numbered_refs');
        }
      });

      it('truncates tables with DELETE or TRUNCATE triggers, as before: their TRUNCATE triggers fire, their DELETE triggers do not', async () => {
        await t.store.execScript(`
          create table public.numbered_clearings (operation text not null);
          create function public.numbered_cleared() returns trigger
          language plpgsql set search_path = public, pg_temp
          as $$ begin insert into numbered_clearings values (tg_op); return null; end; $$;
          create trigger numbered_deleted after delete on public.numbered_notes
            for each row execute function public.numbered_cleared();
          create trigger numbered_truncated after truncate on public.numbered_notes
            for each statement execute function public.numbered_cleared();`);
        try {
          const before = await numbered();
          await t.store.replay('numbered');
          expect(await numbered()).toEqual(before);
          expect(await t.store.query('select operation from public.numbered_clearings')).toEqual([{ operation: 'TRUNCATE' }]);
        } finally {
          await t.store.execScript(`
            drop trigger numbered_deleted on public.numbered_notes;
            drop trigger numbered_truncated on public.numbered_notes;`);
        }
      });

      // The embedded engine is one session: nobody reads during a replay, and no autovacuum would
      // reclaim the rows a DELETE leaves behind, so its replays truncate.
      it.skipIf(engine.name !== 'embedded')('does not grow the tables with every replay on the embedded engine', async () => {
        await t.store.append(
          randomUUID(),
          Array.from({ length: 1000 }, (_, index) => ({ type: 'numbered_add', body: { name: `bulk ${index}` } })),
        );
        const size = async () =>
          (
            await t.store.query<{ bytes: number }>(
              `select (pg_total_relation_size('public.numbered') + pg_total_relation_size('public.numbered_notes'))::int as bytes`,
            )
          )[0]!.bytes;
        await t.store.replay('numbered');
        const replayedOnce = await size();
        await t.store.replay('numbered');
        await t.store.replay('numbered');
        expect(await size()).toBe(replayedOnce);
      });
    });

    describe('a one-stream replay', () => {
      it("deletes and rebuilds only that stream's rows", async () => {
        const [a, b] = streams as [string, string];
        const live = await users();
        await t.store.query(`update public.users set name = 'tampered a' where uuid = $1`, [a]);
        await t.store.query(`update public.users set name = 'tampered b' where uuid = $1`, [b]);

        const result = await t.store.replay('users', { stream: a });
        expect(result.applied).toBe(await handledCount(usersTypes, `uuid = '${a}'`));
        const rows = await users();
        expect(rows.find((row) => row.uuid === a)).toEqual(live.find((row) => row.uuid === a));
        expect(rows.find((row) => row.uuid === b)?.name).toBe('tampered b');
        expect(rows.filter((row) => row.uuid !== b)).toEqual(live.filter((row) => row.uuid !== b));

        await t.store.replay('users', { stream: b });
        expect(await users()).toEqual(live);
      });

      it('recreates a row deleted behind the projection, and does not recreate a deleted user', async () => {
        const [, , c, d] = streams as [string, string, string, string];
        const live = await users();
        await t.store.query('delete from public.users where uuid = $1', [c]);
        await t.store.replay('users', { stream: c });
        await t.store.replay('users', { stream: d });
        expect(await users()).toEqual(live);
        expect(live.some((row) => row.uuid === d)).toBe(false);
      });

      it('is refused for a projection without a stream column, with ReplayRefusedError, changing nothing', async () => {
        const before = await tableRows(t.store, 'public.audit_log', 'position');
        const error = await rejectionOf(t.store.replay('audit', { stream: streams[0]! }));
        expect(error).toBeInstanceOf(ReplayRefusedError);
        expect(error).toMatchObject({ code: 'REPLAY_REFUSED' });
        expect((error as ReplayRefusedError).hint).toMatch(/stream/);
        expect(await tableRows(t.store, 'public.audit_log', 'position')).toEqual(before);
      });
    });

    describe('a replay by types or from a position', () => {
      async function auditCounts(): Promise<Map<number, number>> {
        const rows = await t.store.query<{ position: number; n: number }>(
          'select position::int as position, count(*)::int as n from public.audit_log group by position',
        );
        return new Map(rows.map((row) => [row.position, row.n]));
      }

      it('re-applies only the events of those types and clears nothing', async () => {
        await t.store.replay('audit');
        const before = await auditCounts();
        expect([...before.values()].every((n) => n === 1)).toBe(true);
        const result = await t.store.replay('audit', { types: ['user_update'] });
        const updates = await t.store.query<{ id: number }>(`select id::int as id from ${schema}.events where type = 'user_update'`);
        expect(result.applied).toBe(updates.length);
        const after = await auditCounts();
        const twice = new Set(updates.map((row) => row.id));
        for (const [position, n] of before) expect(after.get(position)).toBe(twice.has(position) ? n + 1 : n);
        expect(after.size).toBe(before.size);
      });

      it('re-applies only the events at or after the position and clears nothing', async () => {
        await t.store.replay('audit');
        const before = await auditCounts();
        const positions = [...before.keys()].sort((x, y) => x - y);
        const from = positions[Math.floor(positions.length / 2)]!;
        const calls: ReplayProgress[] = [];
        const result = await t.store.replay('audit', { fromPosition: from, batchSize: 1, onProgress: (p) => calls.push(p) });
        expect(result.applied).toBe(positions.filter((position) => position >= from).length);
        expect(calls.at(-1)).toEqual({ applied: result.applied, total: result.applied });
        const after = await auditCounts();
        for (const [position, n] of before) expect(after.get(position)).toBe(position >= from ? n + 1 : n);
      });

      it('refuses an empty types filter instead of replaying every type, changing nothing', async () => {
        const before = await auditCounts();
        await expect(t.store.replay('audit', { types: [] })).rejects.toBeInstanceOf(InvalidArgumentError);
        expect(await auditCounts()).toEqual(before);
      });

      it('combines types and a position', async () => {
        await t.store.replay('audit');
        const [first] = await t.store.readStream(streams[2]!);
        const result = await t.store.replay('audit', { types: ['user_create'], fromPosition: first!.position });
        expect(result.applied).toBe(await handledCount(['user_create'], `id >= ${first!.position}`));
      });

      it('does not clear the rows of a stream when it also filters by type', async () => {
        const live = await users();
        await t.store.query(`update public.users set name = 'tampered' where uuid = $1`, [streams[1]]);
        await t.store.replay('users', { stream: streams[1]!, types: ['user_update'] });
        expect(await users()).toEqual(live);
      });
    });

    describe('atomicity', () => {
      beforeAll(async () => {
        await t.store.execScript(`
          create table public.poison_switch (on_since timestamptz);
          create table public.balances (stream uuid primary key, total numeric not null);
          create function public.project_deposit(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp
          as $$
          begin
            if p_body ? 'poison' and exists (select 1 from poison_switch) then
              raise exception 'poisoned deposit' using errcode = 'P0001';
            end if;
            insert into balances (stream, total) values (p_uuid, (p_body ->> 'amount')::numeric)
            on conflict (stream) do update set total = balances.total + excluded.total;
          end;
          $$;`);
        await t.store.defineProjection({
          name: 'balances',
          handlers: { deposit: 'public.project_deposit' },
          tables: ['public.balances'],
          streamColumn: 'stream',
        });
      });

      it('leaves the read model exactly as before when a handler fails part-way through a replay', async () => {
        const [a, b] = [randomUUID(), randomUUID()];
        await t.store.append(a, [{ type: 'deposit', body: { amount: 10 } }, { type: 'deposit', body: { amount: 5 } }]);
        await t.store.append(b, [{ type: 'deposit', body: { amount: 1 } }]);
        await t.store.append(b, [{ type: 'deposit', body: { amount: 2, poison: true } }]);
        await t.store.append(a, [{ type: 'deposit', body: { amount: 100 } }]);
        await t.store.query(`update public.balances set total = 999 where stream = $1`, [a]);
        const before = await tableRows(t.store, 'public.balances', 'stream');
        const eventsBefore = await countEvents(t.store);

        await t.store.query('insert into public.poison_switch values (now())');
        const calls: ReplayProgress[] = [];
        const error = await rejectionOf(t.store.replay('balances', { batchSize: 1, onProgress: (p) => calls.push(p) }));
        expect(error).toBeInstanceOf(ProjectionHandlerError);
        expect(error).toMatchObject({ projection: 'balances', eventType: 'deposit', stream: b, version: 2, sqlState: 'P0001' });
        expect(calls.at(-1)!.applied).toBeGreaterThan(0);
        expect(await tableRows(t.store, 'public.balances', 'stream')).toEqual(before);

        await expect(t.store.replay('balances', { stream: b })).rejects.toBeInstanceOf(ProjectionHandlerError);
        expect(await tableRows(t.store, 'public.balances', 'stream')).toEqual(before);
        expect(await countEvents(t.store)).toBe(eventsBefore);

        await t.store.query('delete from public.poison_switch');
        await t.store.replay('balances');
        const rebuilt = await t.store.query<{ total: string }>('select total::text as total from public.balances where stream = $1', [a]);
        expect(rebuilt).toEqual([{ total: '115' }]);
      });
    });

    describe('property: live read model = replayed read model = TypeScript model', () => {
      beforeAll(async () => {
        await t.store.execScript(`
          create table public.prop_users (uuid uuid primary key, name text not null, renames int not null);
          create function public.prop_create(e ${schema}.events) returns void
          language plpgsql set search_path = public, pg_temp
          as $$
          begin
            insert into prop_users (uuid, name, renames) values (e.uuid, e.body ->> 'name', 0)
            on conflict (uuid) do update set name = excluded.name, renames = 0;
          end;
          $$;
          create function public.prop_rename(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin update prop_users set name = p_body ->> 'name', renames = renames + 1 where uuid = p_uuid; end; $$;
          create function public.prop_delete(p_uuid uuid, p_body jsonb) returns void
          language plpgsql set search_path = public, pg_temp
          as $$ begin delete from prop_users where uuid = p_uuid; end; $$;`);
        await t.store.defineProjection({
          name: 'prop_users',
          handlers: { prop_create: 'public.prop_create', prop_rename: 'public.prop_rename', prop_delete: 'public.prop_delete' },
          tables: ['public.prop_users'],
          streamColumn: 'uuid',
        });
      });

      const event: fc.Arbitrary<PropEvent> = fc.record({
        type: fc.constantFrom('prop_create', 'prop_rename', 'prop_delete'),
        body: fc.record({ name: fc.string({ unit: 'grapheme-ascii', maxLength: 6 }) }),
      });
      const batches = fc.array(
        fc.record({ stream: fc.integer({ min: 0, max: 2 }), events: fc.array(event, { minLength: 1, maxLength: 4 }) }),
        { minLength: 1, maxLength: 8 },
      );

      async function propRows(uuids: string[]): Promise<Map<string, PropUser>> {
        const rows = await t.store.query<{ uuid: string; name: string; renames: number }>(
          'select uuid, name, renames from public.prop_users where uuid = any($1::uuid[])',
          [uuids],
        );
        return new Map(rows.map((row) => [row.uuid, { name: row.name, renames: row.renames }]));
      }

      it('holds for random create/rename/delete events over a few streams, appended in random batches', async () => {
        await fc.assert(
          fc.asyncProperty(batches, async (generated) => {
            const uuids = [randomUUID(), randomUUID(), randomUUID()];
            const fromCommands = new Map<number | string, PropUser>();
            for (const batch of generated) {
              await t.store.append(uuids[batch.stream]!, batch.events);
              for (const e of batch.events) applyPropEvent(fromCommands, uuids[batch.stream]!, e);
            }

            const fromEvents = new Map<number | string, PropUser>();
            for (const uuid of uuids) {
              const stored: StoredEvent[] = await t.store.readStream(uuid);
              for (const e of stored) applyPropEvent(fromEvents, uuid, { type: e.type as PropEvent['type'], body: { name: String(e.body.name) } });
            }
            const live = await propRows(uuids);
            expect(live).toEqual(fromEvents);
            expect(live).toEqual(fromCommands);

            const wholeTable = await tableRows(t.store, 'public.prop_users', 'uuid');
            await t.store.replay('prop_users');
            expect(await propRows(uuids)).toEqual(live);
            expect(await tableRows(t.store, 'public.prop_users', 'uuid')).toEqual(wholeTable);
          }),
          { numRuns: 25 },
        );
      });
    });
  });
}
