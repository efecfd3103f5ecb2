import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConcurrencyError,
  DuplicateEventError,
  ImmutableEventsError,
  InvalidEventError,
  type StoredEvent,
} from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { countEvents, defineUsersProjection, READ_ALL_TEST_TIMEOUT_MS, rejectionOf, waitFor } from './fixtures.js';

export default function plainSqlContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`plain SQL on the events table (${engine.name})`, () => {
    let t: TestStore;
    let schema: string;
    beforeAll(async () => {
      t = await engine.createStore();
      schema = t.store.schema;
      await defineUsersProjection(t.store);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    /** The seed's insert, as typed in psql. */
    function seedInsert(type: string, stream: string, body: string): string {
      return `insert into events (type, uuid, body) values ('${type}', '${stream}', '${body}')`;
    }

    describe('inserts', () => {
      it("stores the seed's plain insert as the stream's first event", async () => {
        const stream = randomUUID();
        await t.store.execScript(seedInsert('user_create', stream, '{"name":"x"}'));
        const [event] = await t.store.readStream(stream);
        expect(event).toMatchObject({ stream, version: 1, type: 'user_create', body: { name: 'x' }, metadata: {} });
        expect(event!.eventId).toMatch(/^[0-9a-f-]{36}$/);
        expect(event!.transactionId).toMatch(/^\d+$/);
      });

      it('gives each later plain insert the next version of its stream', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'a' } }, { type: 'user_update', body: { name: 'b' } }]);
        await t.store.execScript(seedInsert('user_update', stream, '{"name":"c"}'));
        await t.store.execScript(seedInsert('user_update', stream, '{"name":"d"}'));
        const events = await t.store.readStream(stream);
        expect(events.map((event) => [event.version, event.body])).toEqual([
          [1, { name: 'a' }],
          [2, { name: 'b' }],
          [3, { name: 'c' }],
          [4, { name: 'd' }],
        ]);
        expect(await t.store.append(stream, [{ type: 'user_update', body: {} }], { expectedVersion: 4 })).toMatchObject({
          nextVersion: 5,
        });
      });

      it('gives the rows of one multi-row insert consecutive versions in position order', async () => {
        const first = randomUUID();
        const second = randomUUID();
        await t.store.execScript(`
          insert into events (type, uuid, body) values
            ('user_create', '${first}', '{"name":"1a"}'),
            ('user_create', '${second}', '{"name":"2a"}'),
            ('user_update', '${first}', '{"name":"1b"}'),
            ('user_update', '${first}', '{"name":"1c"}')`);
        const events = await t.store.readStream(first);
        expect(events.map((event) => [event.version, event.body.name])).toEqual([
          [1, '1a'],
          [2, '1b'],
          [3, '1c'],
        ]);
        const positions = events.map((event) => event.position);
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
        expect((await t.store.readStream(second)).map((event) => event.version)).toEqual([1]);
      });

      it('takes one position per row of a plain insert: the sequence moves by the rows stored, no more', async () => {
        const position = async () => {
          const [row] = await t.store.query<{ last: unknown }>(`select pg_sequence_last_value('${schema}.events_id_seq') as last`);
          return Number(row!.last);
        };
        const stream = randomUUID();
        await t.store.execScript(seedInsert('user_create', stream, '{"name":"p0"}'));
        const before = await position();
        for (let i = 1; i <= 5; i++) await t.store.execScript(seedInsert('user_update', stream, `{"name":"p${i}"}`));
        await t.store.execScript(seedInsert('user_create', randomUUID(), '{"name":"other"}'));
        await t.store.execScript(`
          insert into events (type, uuid, body) values
            ('user_update', '${stream}', '{"name":"p6"}'), ('user_update', '${stream}', '{"name":"p7"}')`);
        expect((await position()) - before).toBe(8);
        const positions = (await t.store.readStream(stream)).map((event) => event.position);
        expect(positions.slice(1).map((value, index) => value - positions[index]!)).toEqual([1, 1, 1, 1, 1, 2, 1]);
      });

      it('fires the trigger projections', async () => {
        const stream = randomUUID();
        await t.store.execScript(seedInsert('user_create', stream, '{"name":"x"}'));
        await t.store.execScript(seedInsert('user_update', stream, '{"name":"y"}'));
        const rows = await t.store.query('select name, version::int as version from public.users where uuid = $1', [stream]);
        expect(rows).toEqual([{ name: 'y', version: 2 }]);
      });

      it('works inside a transaction block with other statements, as a script', async () => {
        const stream = randomUUID();
        await t.store.execScript(`
          begin;
          ${seedInsert('user_create', stream, '{"name":"tx"}')};
          ${seedInsert('user_update', stream, '{"name":"tx2"}')};
          commit;`);
        expect((await t.store.readStream(stream)).map((event) => event.version)).toEqual([1, 2]);
      });

      it('reports the error of a script that fails inside its own transaction block, and the store stays usable', async () => {
        const stream = randomUUID();
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.execScript(`
            begin;
            ${seedInsert('user_create', stream, '{"name":"in tx"}')};
            ${seedInsert('user_update', stream, '[1]')};
            commit;`),
        );
        expect(error).toBeInstanceOf(InvalidEventError);
        expect(error).toMatchObject({ field: 'body' });
        expect(await countEvents(t.store)).toBe(before);
        // Every connection of the pool (the only one on the embedded engine) must be out of the failed block.
        for (let attempt = 0; attempt < 12; attempt++) {
          expect((await t.store.append(randomUUID(), [{ type: 'user_login', body: {} }])).nextVersion).toBe(1);
        }
        const [path] = await t.store.query<{ path: string }>(`select current_setting('search_path') as path`);
        expect(path!.path.split(',').map((part) => part.trim())).not.toContain(schema);
      });

      it('puts the store schema on the search_path only for the script', async () => {
        await t.store.execScript(`create table public.search_path_seen as select current_setting('search_path') as path`);
        const [seen] = await t.store.query<{ path: string }>('select path from public.search_path_seen');
        expect(seen!.path.split(',').map((part) => part.trim())).toContain(schema);
        const [after] = await t.store.query<{ path: string }>(`select current_setting('search_path') as path`);
        expect(after!.path.split(',').map((part) => part.trim())).not.toContain(schema);
      });

      // A partitioned log has no unique index on event_id to infer (docs/scale-out.md): append_events with ids is idempotent there.
      it.skipIf(engine.variant?.includes('partitioned'))('keeps the stream gapless when an insert of a stored event id is skipped with on conflict do nothing', async () => {
        const stream = randomUUID();
        const id = randomUUID();
        const idempotentInsert = (type: string, conflict: string) =>
          `insert into events (type, uuid, body, event_id) values ('${type}', '${stream}', '{}', '${id}') ${conflict}`;
        await t.store.execScript(idempotentInsert('user_create', 'on conflict (event_id) do nothing'));
        await t.store.execScript(idempotentInsert('user_create', 'on conflict (event_id) do nothing'));
        await t.store.execScript(idempotentInsert('user_create', 'on conflict do nothing'));
        await t.store.execScript(seedInsert('user_update', stream, '{"name":"next"}'));
        expect((await t.store.readStream(stream)).map((event) => event.version)).toEqual([1, 2]);
        const [row] = await t.store.query<{ version: number }>(
          `select version::int as version from ${schema}.streams where stream = $1`,
          [stream],
        );
        expect(row?.version).toBe(2);
        expect((await t.store.append(stream, [{ type: 'user_update', body: {} }], { expectedVersion: 2 })).nextVersion).toBe(3);
      });

      // A partitioned log has no unique index on event_id to infer (docs/scale-out.md): append_events with ids is idempotent there.
      it.skipIf(engine.variant?.includes('partitioned'))('keeps another stream gapless when an insert of an event id stored elsewhere is skipped', async () => {
        const [first, second] = [randomUUID(), randomUUID()];
        const id = randomUUID();
        await t.store.append(first, [{ type: 'user_create', body: {}, id }]);
        await t.store.append(second, [{ type: 'user_create', body: {} }]);
        await t.store.execScript(
          `insert into events (type, uuid, body, event_id) values ('user_update', '${second}', '{}', '${id}') on conflict (event_id) do nothing`,
        );
        await t.store.execScript(seedInsert('user_update', second, '{}'));
        expect((await t.store.readStream(second)).map((event) => event.version)).toEqual([1, 2]);
      });

      it('refuses an explicit version ahead of the stream with ConcurrencyError, storing nothing', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'a' } }]);
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.execScript(`insert into events (type, uuid, body, version) values ('user_update', '${stream}', '{}', 5)`),
        );
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect(error).toMatchObject({ stream, expected: 4, actual: 1 });
        expect(await countEvents(t.store)).toBe(before);
      });

      it('accepts the right next version stated in a plain insert, as an append under an expected version', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'a' } }]);
        await t.store.execScript(
          `insert into events (type, uuid, body, version) values ('user_update', '${stream}', '{"n": 2}', 2), ('user_update', '${stream}', '{"n": 3}', 3)`,
        );
        expect((await t.store.readStream(stream)).map((event) => event.version)).toEqual([1, 2, 3]);
        await t.store.execScript(seedInsert('user_update', stream, '{"n": 4}'));
        const appended = await t.store.append(stream, [{ type: 'user_update', body: {} }], { expectedVersion: 4 });
        expect(appended.nextVersion).toBe(5);
      });

      it('refuses explicit versions that leave a gap inside one statement with ConcurrencyError, storing nothing', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'a' } }]);
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.execScript(
            `insert into events (type, uuid, body, version) values ('user_update', '${stream}', '{}', 2), ('user_update', '${stream}', '{}', 4)`,
          ),
        );
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect(error).toMatchObject({ stream, actual: 1 });
        expect(await countEvents(t.store)).toBe(before);
      });

      it('refuses explicit versions whose order is not their positions\' order, storing nothing', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'a' } }]);
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.execScript(
            `insert into events (type, uuid, body, version) values ('user_update', '${stream}', '{}', 3), ('user_update', '${stream}', '{}', 2)`,
          ),
        );
        expect(error).toBeInstanceOf(InvalidEventError);
        expect(error).toMatchObject({ field: 'id' });
        expect(await countEvents(t.store)).toBe(before);
      });

      it('refuses an explicit version the stream already has with ConcurrencyError, storing nothing', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'a' } }, { type: 'user_update', body: {} }]);
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.execScript(`insert into events (type, uuid, body, version) values ('user_update', '${stream}', '{}', 1)`),
        );
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect(error).toMatchObject({ stream, expected: 0 });
        expect((error as ConcurrencyError).actual).toBeGreaterThanOrEqual(1);
        expect(await countEvents(t.store)).toBe(before);
      });

      it('refuses an explicit version for a stream without events with ConcurrencyError', async () => {
        const stream = randomUUID();
        const error = await rejectionOf(
          t.store.execScript(`insert into events (type, uuid, body, version) values ('user_create', '${stream}', '{}', 3)`),
        );
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect(error).toMatchObject({ stream, actual: 0 });
        expect(await t.store.readStream(stream)).toEqual([]);
      });

      it('refuses an explicit transaction_id with InvalidEventError, storing nothing', async () => {
        const stream = randomUUID();
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.execScript(
            `insert into events (type, uuid, body, transaction_id) values ('user_create', '${stream}', '{}', '5')`,
          ),
        );
        expect(error).toBeInstanceOf(InvalidEventError);
        expect(error).toMatchObject({ field: 'transaction_id' });
        expect(await countEvents(t.store)).toBe(before);
      });

      it('refuses an explicit position', async () => {
        const before = await countEvents(t.store);
        await expect(
          t.store.execScript(`insert into events (id, type, uuid, body) values (999999, 'user_create', '${randomUUID()}', '{}')`),
        ).rejects.toThrow(/id/);
        expect(await countEvents(t.store)).toBe(before);
      });

      it('refuses a position given with OVERRIDING SYSTEM VALUE ahead of the sequence with InvalidEventError, storing nothing', async () => {
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.execScript(
            `insert into events (id, type, uuid, body) overriding system value values (999999999, 'user_create', '${randomUUID()}', '{}')`,
          ),
        );
        expect(error).toBeInstanceOf(InvalidEventError);
        expect(error).toMatchObject({ field: 'id' });
        expect(await countEvents(t.store)).toBe(before);
      });

      const badRows: [string, string, Record<string, unknown>][] = [
        ['a body that is an array', `'user_create', '[1]'`, { field: 'body' }],
        ['a body that is a string', `'user_create', '"x"'`, { field: 'body' }],
        ['an invalid event type', `'user create', '{}'`, { field: 'type' }],
        ['a type of 201 characters', `'u${'x'.repeat(200)}', '{}'`, { field: 'type' }],
        ['U+0000 in the body', `'user_create', '{"name": "a\\u0000b"}'`, {}],
      ];
      for (const [what, values, fields] of badRows) {
        it(`refuses ${what} with InvalidEventError, storing nothing`, async () => {
          const before = await countEvents(t.store);
          const error = await rejectionOf(
            t.store.execScript(`insert into events (type, body, uuid) values (${values}, '${randomUUID()}')`),
          );
          expect(error).toBeInstanceOf(InvalidEventError);
          expect(error).toMatchObject(fields);
          expect(await countEvents(t.store)).toBe(before);
        });
      }

      it('refuses an event id that is already stored with DuplicateEventError', async () => {
        const id = randomUUID();
        await t.store.append(randomUUID(), [{ type: 'user_create', body: {}, id }]);
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.execScript(
            `insert into events (type, uuid, body, event_id) values ('user_create', '${randomUUID()}', '{}', '${id}')`,
          ),
        );
        expect(error).toBeInstanceOf(DuplicateEventError);
        expect(await countEvents(t.store)).toBe(before);
      });
    });

    describe('SQL functions', () => {
      it('appends with append_events and an expected version, returning event ids, versions and positions', async () => {
        const stream = randomUUID();
        const rows = await t.store.query<{ event_id: string; version: unknown; position: unknown }>(
          `select * from ${schema}.append_events($1, $2::jsonb, 'no_stream')`,
          [stream, JSON.stringify([{ type: 'user_create', body: { name: 'sql' } }, { type: 'user_update', body: { name: 'sql2' } }])],
        );
        expect(rows.map((row) => Number(row.version))).toEqual([1, 2]);
        const events = await t.store.readStream(stream);
        expect(events.map((event) => [event.eventId, event.position])).toEqual(
          rows.map((row) => [row.event_id, Number(row.position)]),
        );
        const [user] = await t.store.query('select name from public.users where uuid = $1', [stream]);
        expect(user).toEqual({ name: 'sql2' });
      });

      it('refuses a wrong expected version in append_events with ConcurrencyError', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: {} }]);
        const error = await rejectionOf(
          t.store.query(`select * from ${schema}.append_events($1, '[{"type": "user_update", "body": {}}]', '0')`, [stream]),
        );
        expect(error).toBeInstanceOf(ConcurrencyError);
        expect(error).toMatchObject({ stream, expected: 0, actual: 1 });
      });

      const badCalls: [string, string, string][] = [
        ['an empty array of events', '[]', 'any'],
        ['events that are not an array', '{"type": "x", "body": {}}', 'any'],
        ['an event without a body', '[{"type": "x"}]', 'any'],
        ['an event whose id is not a uuid', '[{"type": "x", "body": {}, "id": "nope"}]', 'any'],
        ['an event whose metadata is an array', '[{"type": "x", "body": {}, "metadata": []}]', 'any'],
        ['an expected version that is not one', '[{"type": "x", "body": {}}]', '-1'],
      ];
      for (const [what, events, expected] of badCalls) {
        it(`refuses ${what} in append_events with InvalidEventError`, async () => {
          const before = await countEvents(t.store);
          const error = await rejectionOf(
            t.store.query(`select * from ${schema}.append_events($1, $2::jsonb, $3)`, [randomUUID(), events, expected]),
          );
          expect(error).toBeInstanceOf(InvalidEventError);
          expect(await countEvents(t.store)).toBe(before);
        });
      }

      it('reads a stream with read_stream and the log with read_all', async () => {
        const stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: {} }, { type: 'user_update', body: {} }]);
        const inStream = await t.store.query<{ version: unknown }>(`select version from ${schema}.read_stream($1, 2, 10)`, [stream]);
        expect(inStream.map((row) => Number(row.version))).toEqual([2]);
        const ofStream = await waitFor(async () => {
          const all = await t.store.query<{ uuid: string; version: unknown }>(
            `select uuid, version from ${schema}.read_all('0', 0, 100000, array['user_update'])`,
          );
          const found = all.filter((row) => row.uuid === stream);
          return found.length > 0 ? found : undefined;
        }, 'read_all to see the events');
        expect(ofStream.map((row) => Number(row.version))).toEqual([2]);
      }, READ_ALL_TEST_TIMEOUT_MS);
    });

    describe('immutability', () => {
      let events: StoredEvent[];
      let stream: string;
      beforeAll(async () => {
        stream = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: { name: 'kept' } }]);
        events = await t.store.readStream(stream);
      });

      const statements: [string, (schema: string, stream: string) => string][] = [
        ['an UPDATE', (s, id) => `update ${s}.events set body = '{"name": "changed"}' where uuid = '${id}'`],
        ['an UPDATE that matches no row', (s) => `update ${s}.events set body = '{}' where false`],
        ['a DELETE', (s, id) => `delete from ${s}.events where uuid = '${id}'`],
        ['a DELETE that matches no row', (s) => `delete from ${s}.events where uuid = '${randomUUID()}'`],
        ['a DELETE of every event', (s) => `delete from ${s}.events`],
        ['a TRUNCATE', (s) => `truncate ${s}.events`],
      ];
      for (const [what, statement] of statements) {
        it(`refuses ${what} of events with ImmutableEventsError, changing nothing`, async () => {
          const before = await countEvents(t.store);
          const error = await rejectionOf(t.store.query(statement(schema, stream)));
          expect(error).toBeInstanceOf(ImmutableEventsError);
          expect(error).toMatchObject({ code: 'IMMUTABLE_EVENTS' });
          expect((error as ImmutableEventsError).hint).toMatch(/Append a new event/);
          expect(await countEvents(t.store)).toBe(before);
          expect(await t.store.readStream(stream)).toEqual(events);
        });
      }

      it('refuses an UPDATE in a script too', async () => {
        await expect(t.store.execScript(`update events set type = 'user_delete' where uuid = '${stream}'`)).rejects.toBeInstanceOf(
          ImmutableEventsError,
        );
        expect(await t.store.readStream(stream)).toEqual(events);
      });
    });
  });
}
