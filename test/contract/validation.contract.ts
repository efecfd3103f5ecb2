import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  InvalidEventError,
  type NewEvent,
  ProjectionDefinitionError,
  UnknownProjectionError,
} from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { countEvents, rejectionOf } from './fixtures.js';

type ErrorClass = abstract new (...args: never[]) => Error;

export default function validationContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`bad input (${engine.name})`, () => {
    let t: TestStore;
    let existing: string;
    let eventsBefore: number;

    beforeAll(async () => {
      t = await engine.createStore();
      existing = randomUUID();
      await t.store.append(existing, [{ type: 'user_create', body: { name: 'Ada' } }]);
      await t.store.execScript(`
        create table public.things (id uuid primary key, n int not null default 0);
        create function public.project_thing(p_uuid uuid, p_body jsonb) returns void
        language plpgsql set search_path = public, pg_temp
        as $$ begin insert into things (id) values (p_uuid); end; $$;
        create function public.takes_text(p_value text) returns void
        language plpgsql set search_path = public, pg_temp
        as $$ begin end; $$;
        create function public.unpinned_handler(p_uuid uuid, p_body jsonb) returns void
        language plpgsql
        as $$ begin insert into public.things (id) values (p_uuid); end; $$;
      `);
    });
    afterAll(async () => {
      await t?.dispose();
    });
    beforeEach(async () => {
      eventsBefore = await countEvents(t.store);
    });

    /** Expects the call to fail with the error class (and fields), and the log to be unchanged. */
    async function expectRefused(call: () => Promise<unknown>, errorClass: ErrorClass, fields: Record<string, unknown> = {}) {
      const error = await rejectionOf(call());
      expect(error).toBeInstanceOf(errorClass);
      expect(error).toMatchObject(fields);
      expect((error as Error).message).not.toBe('');
      expect(await countEvents(t.store)).toBe(eventsBefore);
      return error;
    }

    function appendOne(event: unknown, stream = existing) {
      return () => t.store.append(stream, [event as NewEvent]);
    }

    describe('append', () => {
      for (const stream of ['not-a-uuid', '', '11111111-1111-1111-1111-11111111111', '11111111-1111-1111-1111-11111111111g']) {
        it(`refuses the stream id ${JSON.stringify(stream)}, which is not a uuid`, async () => {
          await expectRefused(appendOne({ type: 'user_create', body: {} }, stream), InvalidEventError, {
            code: 'INVALID_EVENT',
            field: 'stream',
          });
        });
      }

      const bodies: [string, unknown][] = [
        ['an array', [1, 2]],
        ['a string', 'name'],
        ['null', null],
        ['a number', 42],
        ['missing', undefined],
        ['a Date', new Date()],
      ];
      for (const [what, body] of bodies) {
        it(`refuses a body that is ${what}`, async () => {
          await expectRefused(appendOne({ type: 'user_create', body }), InvalidEventError, { field: 'body', index: 0 });
        });
      }

      for (const [what, metadata] of [
        ['an array', []],
        ['a string', 'meta'],
        ['null', null],
        ['a number', 1],
      ] as [string, unknown][]) {
        it(`refuses metadata that is ${what}`, async () => {
          await expectRefused(appendOne({ type: 'user_create', body: {}, metadata }), InvalidEventError, {
            field: 'metadata',
            index: 0,
          });
        });
      }

      const types: [string, unknown][] = [
        ['empty', ''],
        ['with a space', 'user create'],
        ['starting with a digit', '1user'],
        ['with a quote', "user'create"],
        ['with a semicolon', 'user;drop'],
        ['201 characters long', `u${'x'.repeat(200)}`],
        ['not a string', 7],
        ['missing', undefined],
      ];
      for (const [what, type] of types) {
        it(`refuses an event type that is ${what}`, async () => {
          await expectRefused(appendOne({ type, body: {} }), InvalidEventError, { field: 'type', index: 0 });
        });
      }

      it('accepts an event type of 200 characters and the characters _ . : / -', async () => {
        const stream = randomUUID();
        const long = `u${'x'.repeat(199)}`;
        await t.store.append(stream, [
          { type: long, body: {} },
          { type: '_Users.v2:created/at-once', body: {} },
        ]);
        expect((await t.store.readStream(stream)).map((event) => event.type)).toEqual([long, '_Users.v2:created/at-once']);
      });

      it('refuses U+0000 in a body string', async () => {
        await expectRefused(appendOne({ type: 'user_create', body: { name: 'a\u0000b' } }), InvalidEventError, {
          field: 'body',
        });
      });

      it('refuses U+0000 in a body key', async () => {
        await expectRefused(appendOne({ type: 'user_create', body: { 'na\u0000me': 'x' } }), InvalidEventError, {
          field: 'body',
        });
      });

      it('refuses U+0000 nested in metadata', async () => {
        await expectRefused(
          appendOne({ type: 'user_create', body: {}, metadata: { trace: ['ok', { id: '\u0000' }] } }),
          InvalidEventError,
          { field: 'metadata' },
        );
      });

      it('refuses a lone UTF-16 surrogate in a body string', async () => {
        await expectRefused(appendOne({ type: 'user_create', body: { name: 'broken \ud800 pair' } }), InvalidEventError, {
          field: 'body',
        });
      });

      it('accepts a surrogate pair (an emoji) in a body string', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'Ada 🚀' } }]);
        expect((await t.store.readStream(stream))[0]!.body).toEqual({ name: 'Ada 🚀' });
      });

      it('refuses a body over 1 MiB', async () => {
        const body = { blob: 'x'.repeat(1024 * 1024) };
        const error = await expectRefused(appendOne({ type: 'user_create', body }), InvalidEventError, { field: 'body' });
        expect((error as Error).message).toMatch(/1048576/);
      });

      it('refuses a body whose stored form is over 1 MiB though its JSON text is not', async () => {
        // Each 0 is 2 bytes of JSON text but about 12 bytes of jsonb: the database's check decides.
        const body = { zeros: Array.from({ length: 150_000 }, () => 0) };
        expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThan(1024 * 1024);
        await expectRefused(appendOne({ type: 'user_create', body }), InvalidEventError, { field: 'body' });
      });

      it('refuses metadata over 64 KiB', async () => {
        await expectRefused(
          appendOne({ type: 'user_create', body: {}, metadata: { blob: 'x'.repeat(64 * 1024) } }),
          InvalidEventError,
          { field: 'metadata' },
        );
      });

      it('refuses a body with a non-finite number', async () => {
        await expectRefused(appendOne({ type: 'user_create', body: { n: Number.NaN } }), InvalidEventError, {
          field: 'body',
        });
      });

      for (const expectedVersion of [-1, 1.5, 'foo', Number.NaN, '1', null]) {
        it(`refuses the expected version ${String(expectedVersion)}`, async () => {
          await expectRefused(
            () => t.store.append(existing, [{ type: 'user_update', body: {} }], { expectedVersion: expectedVersion as never }),
            InvalidArgumentError,
            { code: 'INVALID_ARGUMENT', argument: 'expectedVersion' },
          );
        });
      }

      it('refuses an empty batch', async () => {
        await expectRefused(() => t.store.append(existing, []), InvalidEventError, { field: 'events' });
      });

      it('refuses a batch that is not an array', async () => {
        await expectRefused(
          () => t.store.append(existing, { type: 'user_update', body: {} } as unknown as NewEvent[]),
          InvalidEventError,
          { field: 'events' },
        );
      });

      it('refuses an event that is not an object', async () => {
        await expectRefused(appendOne('user_update'), InvalidEventError, { index: 0 });
      });

      for (const id of ['42', 'not-a-uuid', '11111111-1111-1111-1111-1111111111111', 42]) {
        it(`refuses the event id ${JSON.stringify(id)}, which is not a uuid`, async () => {
          await expectRefused(appendOne({ type: 'user_create', body: {}, id }), InvalidEventError, { field: 'id', index: 0 });
        });
      }

      it('names the index of the bad event in a batch', async () => {
        await expectRefused(
          () =>
            t.store.append(existing, [
              { type: 'user_update', body: {} },
              { type: 'user_update', body: {} },
              { type: 'user_update', body: [] as never },
            ]),
          InvalidEventError,
          { field: 'body', index: 2 },
        );
      });
    });

    describe('reads', () => {
      for (const after of ['', 'abc', '12', '1-', '-1', '1-2-3', '1.5-2', '123456789012345678901-1']) {
        it(`refuses the readAll cursor ${JSON.stringify(after)}`, async () => {
          await expectRefused(() => t.store.readAll({ after }), InvalidArgumentError, { argument: 'after' });
        });
      }

      it('refuses a readStream stream id that is not a uuid', async () => {
        await expectRefused(() => t.store.readStream('nope'), InvalidEventError, { field: 'stream' });
      });

      for (const [option, value] of [
        ['fromVersion', 0],
        ['fromVersion', 1.5],
        ['limit', 0],
        ['limit', -5],
      ] as const) {
        it(`refuses readStream ${option} ${value}`, async () => {
          await expectRefused(() => t.store.readStream(existing, { [option]: value }), InvalidArgumentError, {
            argument: option,
          });
        });
      }

      it('refuses a readAll limit of 0', async () => {
        await expectRefused(() => t.store.readAll({ limit: 0 }), InvalidArgumentError, { argument: 'limit' });
      });
    });

    describe('projections', () => {
      it('refuses to replay an unknown projection', async () => {
        await expectRefused(() => t.store.replay('no_such_projection'), UnknownProjectionError, {
          code: 'UNKNOWN_PROJECTION',
          projection: 'no_such_projection',
        });
      });

      it('refuses to drop an unknown projection', async () => {
        await expectRefused(() => t.store.dropProjection('no_such_projection'), UnknownProjectionError, {
          projection: 'no_such_projection',
        });
      });

      it('refuses to refresh an unknown materialized view', async () => {
        await expectRefused(() => t.store.refreshMaterializedView('no_such_view'), UnknownProjectionError, {
          projection: 'no_such_view',
        });
      });

      async function expectNoProjection(name: string) {
        expect((await t.store.listProjections()).map((projection) => projection.name)).not.toContain(name);
      }

      it('refuses a handler function that does not exist', async () => {
        const error = await expectRefused(
          () => t.store.defineProjection({ name: 'things', handlers: { thing_made: 'public.no_such_function' } }),
          ProjectionDefinitionError,
          { code: 'INVALID_PROJECTION' },
        );
        expect((error as Error).message).toContain('public.no_such_function');
        await expectNoProjection('things');
      });

      it('refuses a handler function with the wrong signature, named by its name', async () => {
        await expectRefused(
          () => t.store.defineProjection({ name: 'things', handlers: { thing_made: 'public.takes_text' } }),
          ProjectionDefinitionError,
        );
        await expectNoProjection('things');
      });

      it('refuses a handler function with the wrong signature, named by its full signature', async () => {
        const error = await expectRefused(
          () => t.store.defineProjection({ name: 'things', handlers: { thing_made: 'public.takes_text(text)' } }),
          ProjectionDefinitionError,
        );
        expect((error as Error).message).toMatch(/must take \(uuid, jsonb\)/);
        await expectNoProjection('things');
      });

      it('refuses a handler function that does not pin search_path', async () => {
        const error = await expectRefused(
          () => t.store.defineProjection({ name: 'things', handlers: { thing_made: 'public.unpinned_handler' } }),
          ProjectionDefinitionError,
        );
        expect((error as Error).message).toContain('search_path');
        expect((error as { hint?: string }).hint).toContain('set search_path');
        await expectNoProjection('things');
        await t.store.append(randomUUID(), [{ type: 'thing_made', body: {} }]);
        expect(await t.store.query('select * from public.things')).toEqual([]);
      });

      it('refuses a read-model table that does not exist', async () => {
        await expectRefused(
          () =>
            t.store.defineProjection({
              name: 'things',
              handlers: { thing_made: 'public.project_thing' },
              tables: ['public.no_such_table'],
            }),
          ProjectionDefinitionError,
        );
        await expectNoProjection('things');
      });

      it('refuses a stream column that the tables do not have', async () => {
        await expectRefused(
          () =>
            t.store.defineProjection({
              name: 'things',
              handlers: { thing_made: 'public.project_thing' },
              tables: ['public.things'],
              streamColumn: 'stream',
            }),
          ProjectionDefinitionError,
        );
        await expectNoProjection('things');
      });

      it('refuses a projection without handlers', async () => {
        await expectRefused(() => t.store.defineProjection({ name: 'things', handlers: {} }), ProjectionDefinitionError);
        await expectNoProjection('things');
      });

      it('refuses a handled event type that is not a valid event type', async () => {
        await expectRefused(
          () => t.store.defineProjection({ name: 'things', handlers: { 'thing made': 'public.project_thing' } }),
          ProjectionDefinitionError,
        );
        await expectNoProjection('things');
      });

      const badNames = ['Users', 'users"; drop table users; --', "o'brien", 'users;', `p${'x'.repeat(40)}`, '', '1users', 'user-s'];
      for (const name of badNames) {
        it(`refuses the projection name ${JSON.stringify(name)} from TypeScript with InvalidArgumentError`, async () => {
          await expectRefused(
            () => t.store.defineProjection({ name, handlers: { thing_made: 'public.project_thing' } }),
            InvalidArgumentError,
            { argument: 'name' },
          );
          await expectRefused(
            () => t.store.defineMaterializedView({ name, query: 'select 1 as one' }),
            InvalidArgumentError,
            { argument: 'name' },
          );
          await expectRefused(() => t.store.replay(name), InvalidArgumentError, { argument: 'name' });
        });

        it(`refuses the projection name ${JSON.stringify(name)} from SQL with ProjectionDefinitionError`, async () => {
          await expectRefused(
            () =>
              t.store.query(`select ${t.store.schema}.define_projection($1, $2::jsonb)`, [
                name,
                JSON.stringify({ thing_made: 'public.project_thing' }),
              ]),
            ProjectionDefinitionError,
          );
          await expectRefused(
            () => t.store.query(`select ${t.store.schema}.define_materialized_view($1, 'select 1 as one')`, [name]),
            ProjectionDefinitionError,
          );
        });
      }

      it('accepts a projection name of 40 characters', async () => {
        const name = `p${'x'.repeat(39)}`;
        await t.store.defineProjection({ name, handlers: { thing_made: 'public.project_thing' } });
        expect((await t.store.listProjections()).map((projection) => projection.name)).toContain(name);
        await t.store.dropProjection(name);
      });
    });
  });
}
