import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, InvalidArgumentError, InvalidEventError, type StoredEvent } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { runCli } from '../support/cli.js';
import { rejectionOf } from './fixtures.js';
import { engineLabel } from './subscriptions.contract.js';

// The docs' worked example: user_renamed v1 carried { name }, v2 carries { first_name, last_name }.
const SPLIT_NAME = `
  create function public.user_renamed_v1_to_v2(body jsonb) returns jsonb
  language sql immutable as $$
    select (body - 'name') || jsonb_build_object(
      'first_name', split_part(body ->> 'name', ' ', 1),
      'last_name', substr(body ->> 'name', strpos(body ->> 'name', ' ') + 1))
  $$`;

export default function eventTypeVersionsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`event type versions and upcasters (${engineLabel(engine)})`, () => {
    let t: TestStore;
    /** Appends and reads as the application would (the writer role in the role variant). */
    let store: EventStore;
    /** Declares types, upcasters and projections: the store's owner. */
    let owner: EventStore;
    const ada = randomUUID();
    const grace = randomUUID();

    const shapes = (events: StoredEvent[]) => events.map((e) => [e.type, e.typeVersion, e.body]);
    const storedBodies = async (stream: string) =>
      (await owner.query<{ body: unknown; type_version: number | null }>(
        `select body, type_version from ${owner.schema}.events where uuid = $1 order by version`,
        [stream],
      )).map((row) => [row.body, row.type_version === null ? null : Number(row.type_version)]);

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      owner = t.owner ?? store;
      await owner.execScript(SPLIT_NAME);
      await owner.execScript(`
        create table public.user_names (uuid uuid primary key, first_name text, last_name text);
        create function public.project_user_renamed(p_uuid uuid, p_body jsonb) returns void
        language sql set search_path = public, pg_temp as $$
          insert into user_names values (p_uuid, p_body ->> 'first_name', p_body ->> 'last_name')
          on conflict (uuid) do update set first_name = excluded.first_name, last_name = excluded.last_name
        $$`);
      // Version 1 events, from the API and from plain SQL, before the type had versions.
      await store.append(ada, [{ type: 'user_renamed', body: { name: 'Ada Lovelace' } }]);
      await store.query(`insert into ${store.schema}.events (type, uuid, body) values ('user_renamed', $1, '{"name": "Grace Hopper"}')`, [grace]);
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('moves a type with stored events to version 2 only through an upcaster, and reads every event in the current shape', async () => {
      const refused = await rejectionOf(owner.defineEventType('user_renamed', { version: 2 }));
      expect(refused).toBeInstanceOf(InvalidEventError);
      expect((refused as Error).message).toContain('Events of type user_renamed are stored at version 1');

      const upcaster = await owner.defineUpcaster('user_renamed', 1, 'user_renamed_v1_to_v2');
      expect(upcaster).toMatchObject({
        type: 'user_renamed', fromVersion: 1, function: 'public.user_renamed_v1_to_v2(jsonb)',
        toType: 'user_renamed', toVersion: 2, finalType: 'user_renamed', finalVersion: 2,
      });
      expect(await owner.defineEventType('user_renamed', { version: 2, requiredFields: ['first_name', 'last_name'] })).toMatchObject({
        version: 2, requiredFields: ['first_name', 'last_name'], oldVersions: 'upcast',
      });
      expect((await store.listUpcasters()).map((u) => [u.type, u.fromVersion, u.finalVersion])).toEqual([['user_renamed', 1, 2]]);

      const v2 = ['user_renamed', 2, { first_name: 'Ada', last_name: 'Lovelace' }];
      expect(shapes(await store.readStream(ada))).toEqual([v2]);
      const all = (await store.readAll({ types: ['user_renamed'] })).events.filter((e) => e.stream === ada);
      expect(shapes(all)).toEqual([v2]);
      expect(shapes((await store.readAllBackward()).events.filter((e) => e.stream === ada))).toEqual([v2]);
      const [first] = await store.readStream(ada);
      expect(shapes([(await store.readEvent(first!.position))!])).toEqual([v2]);
      const [viaSql] = await store.query<{ body: unknown; type_version: number }>(
        `select body, type_version from ${store.schema}.read_all_after('start', 1000) where uuid = $1`, [ada]);
      expect(viaSql).toMatchObject({ body: v2[2], type_version: 2 });
      // The stored rows never change.
      expect(await storedBodies(ada)).toEqual([[{ name: 'Ada Lovelace' }, null]]);
    });

    it('stores new appends at the current version, upcasts an older one before storing it, refuses an unknown one', async () => {
      await store.append(ada, [{ type: 'user_renamed', body: { first_name: 'Augusta Ada', last_name: 'King' } }]);
      await store.append(ada, [{ type: 'user_renamed', body: { name: 'Ada King' }, typeVersion: 1 }]);
      await store.query(
        `insert into ${store.schema}.events (type, uuid, body, type_version) values ('user_renamed', $1, '{"name": "Ada Byron"}', 1)`, [ada]);
      expect((await storedBodies(ada)).slice(1)).toEqual([
        [{ first_name: 'Augusta Ada', last_name: 'King' }, 2],
        [{ first_name: 'Ada', last_name: 'King' }, 2],
        [{ first_name: 'Ada', last_name: 'Byron' }, 2],
      ]);
      const unknown = await rejectionOf(store.append(ada, [{ type: 'user_renamed', body: {}, typeVersion: 3 }]));
      expect(unknown).toBeInstanceOf(InvalidEventError);
      expect((unknown as Error).message).toContain('Unknown version 3 of event type user_renamed');
      await expect(store.append(ada, [{ type: 'user_renamed', body: {}, typeVersion: 0 }])).rejects.toMatchObject({ field: 'typeVersion' });
      await expect(store.append(ada, [{ type: 'user_renamed', body: {}, typeVersion: 1.5 }])).rejects.toBeInstanceOf(InvalidEventError);
      await expect(
        store.query(`select * from ${store.schema}.append_events($1, '[{"type": "user_renamed", "body": {}, "type_version": "2"}]')`, [ada]),
      ).rejects.toThrow(/type_version must be a positive integer/);

      await owner.defineEventType('user_renamed', { version: 2, requiredFields: ['first_name', 'last_name'], oldVersions: 'refuse' });
      const old = await rejectionOf(store.append(ada, [{ type: 'user_renamed', body: { name: 'Ada' }, typeVersion: 1 }]));
      expect(old).toBeInstanceOf(InvalidEventError);
      expect((old as Error).message).toContain('this type refuses versions before 2');
      await owner.defineEventType('user_renamed', { version: 2, requiredFields: ['first_name', 'last_name'] });
      expect(await storedBodies(ada)).toHaveLength(4);
    });

    it('imports older versions upcast (NDJSON typeVersion, CSV type_version, a staging table of its own) and refuses unknown ones', async () => {
      const stream = randomUUID();
      const ndjson = [
        JSON.stringify({ stream, type: 'user_renamed', body: { name: 'Mary Somerville' }, typeVersion: 1 }),
        JSON.stringify({ stream, type: 'user_renamed', body: { first_name: 'Mary', last_name: 'Fairfax' } }),
      ].join('\n');
      await store.importEvents((async function* () { yield `${ndjson}\n`; })(), { format: 'ndjson' });
      const csv = `stream,type,body,type_version\n${stream},user_renamed,"{""name"": ""Mary Greig""}",1\n`;
      await store.importEvents((async function* () { yield csv; })(), { format: 'csv' });
      expect((await storedBodies(stream))).toEqual([
        [{ first_name: 'Mary', last_name: 'Somerville' }, 2],
        [{ first_name: 'Mary', last_name: 'Fairfax' }, 2],
        [{ first_name: 'Mary', last_name: 'Greig' }, 2],
      ]);
      const bad = `${JSON.stringify({ stream, type: 'user_renamed', body: {}, typeVersion: 'two' })}\n`;
      await expect(store.importEvents((async function* () { yield bad; })(), { format: 'ndjson' })).rejects.toMatchObject({ field: 'typeVersion', line: 1 });
      const unknown = `${JSON.stringify({ stream, type: 'user_renamed', body: { first_name: 'A', last_name: 'B' }, typeVersion: 7 })}\n`;
      await expect(store.importEvents((async function* () { yield unknown; })(), { format: 'ndjson' })).rejects.toThrow(/Unknown version 7 of event type user_renamed/);
      // A staging table without type_version (import_events' columns before versions): the current version.
      await store.transaction(async (tx) => {
        await tx.query('create temp table staged (ord bigint, uuid uuid, type text, body jsonb, metadata jsonb, event_id uuid) on commit drop');
        await tx.query(`insert into staged values (1, $1, 'user_renamed', '{"first_name": "Mary", "last_name": "Fairfax Somerville"}', null, null)`, [stream]);
        await tx.query(`select * from ${store.schema}.import_events('staged')`);
      });
      expect((await storedBodies(stream)).at(-1)).toEqual([{ first_name: 'Mary', last_name: 'Fairfax Somerville' }, 2]);
    });

    it('refuses a body that misses a required field or fails the check function, and stores nothing', async () => {
      const stream = randomUUID();
      const missing = await rejectionOf(store.append(stream, [{ type: 'user_renamed', body: { first_name: 'Grace' } }]));
      expect(missing).toBeInstanceOf(InvalidEventError);
      expect((missing as Error).message).toContain('missing required field(s): last_name');
      expect(missing).toMatchObject({ field: 'body' });

      await owner.query(`create function public.positive_amount(body jsonb) returns boolean language sql immutable
                           as $$ select (body ->> 'amount')::numeric > 0 $$`);
      await owner.defineEventType('payment_made', { checkFunction: 'positive_amount', requiredFields: ['amount'] });
      expect((await store.listDeclaredEventTypes()).find((d) => d.type === 'payment_made')).toMatchObject({
        checkFunction: 'public.positive_amount(jsonb)', requiredFields: ['amount'],
      });
      await store.append(stream, [{ type: 'payment_made', body: { amount: 5 } }]);
      const refused = await rejectionOf(store.append(stream, [{ type: 'payment_made', body: { amount: -5 } }, { type: 'payment_made', body: { amount: 1 } }]));
      expect((refused as Error).message).toContain('public.positive_amount(jsonb) refused it');
      await expect(
        store.query(`insert into ${store.schema}.events (type, uuid, body) values ('payment_made', $1, '{}')`, [stream]),
      ).rejects.toThrow(/missing required field\(s\): amount/);
      expect(await store.readStream(stream)).toHaveLength(1);
    });

    it('replays and rebuilds projections from the current shape, and live projections see it too', async () => {
      await owner.defineProjection({
        name: 'user_names', handlers: { user_renamed: 'public.project_user_renamed' }, tables: ['public.user_names'], streamColumn: 'uuid',
      });
      await owner.replay('user_names');
      const stream = randomUUID();
      // The streams of this test's users (earlier tests imported others).
      const names = async () =>
        (await store.query<{ uuid: string; first_name: string; last_name: string }>(
          'select uuid, first_name, last_name from public.user_names where uuid = any($1::uuid[]) order by first_name', [[ada, grace, stream]]))
          .map((row) => [row.uuid, row.first_name, row.last_name]);
      expect(await names()).toEqual([[ada, 'Ada', 'Byron'], [grace, 'Grace', 'Hopper']]);

      await store.append(stream, [{ type: 'user_renamed', body: { name: 'Alan Turing' }, typeVersion: 1 }]);
      expect((await names()).find(([uuid]) => uuid === stream)).toEqual([stream, 'Alan', 'Turing']);

      await owner.query('truncate public.user_names');
      await owner.rebuild('user_names');
      expect(await names()).toEqual([[ada, 'Ada', 'Byron'], [stream, 'Alan', 'Turing'], [grace, 'Grace', 'Hopper']]);
    });

    it('delivers the current shape to subscriptions', async () => {
      const seen: StoredEvent[] = [];
      const subscription = await store.subscribe({ name: 'names-feed', types: ['user_renamed'], handler: (batch) => { seen.push(...batch); } });
      try {
        await subscription.caughtUp();
      } finally {
        await subscription.stop();
      }
      const grace1 = seen.find((e) => e.stream === grace);
      expect(grace1).toMatchObject({ type: 'user_renamed', typeVersion: 2, body: { first_name: 'Grace', last_name: 'Hopper' } });
    });

    it('renames a type through an upcaster: old events read, filter and project as the new type; cycles and drops are refused', async () => {
      await owner.defineEventType('person_renamed', { version: 1 });
      await owner.query(`create function public.user_to_person(body jsonb) returns jsonb language sql immutable
                           as $$ select body || '{"kind": "person"}' $$`);
      const rename = await owner.defineUpcaster('user_renamed', 2, 'public.user_to_person', { toType: 'person_renamed' });
      expect(rename).toMatchObject({ toType: 'person_renamed', toVersion: 1, finalType: 'person_renamed', finalVersion: 1 });
      expect((await store.listUpcasters()).find((u) => u.fromVersion === 1 && u.type === 'user_renamed')).toMatchObject({
        finalType: 'person_renamed', finalVersion: 1,
      });
      const [adaFirst] = await store.readStream(ada);
      expect(shapes([adaFirst!])).toEqual([['person_renamed', 1, { first_name: 'Ada', last_name: 'Lovelace', kind: 'person' }]]);
      const byNewType = (await store.readAll({ types: ['person_renamed'] })).events;
      expect(byNewType.some((e) => e.stream === grace)).toBe(true);
      expect((await store.readAll({ types: ['user_renamed'] })).events).toEqual([]);
      // An append of the old name is stored as the new type.
      const stream = randomUUID();
      await store.append(stream, [{ type: 'user_renamed', body: { first_name: 'Edsger', last_name: 'Dijkstra' } }]);
      const [stored] = await owner.query<{ type: string }>(`select type from ${owner.schema}.events where uuid = $1`, [stream]);
      expect(stored?.type).toBe('person_renamed');

      const cycle = await rejectionOf(owner.defineUpcaster('person_renamed', 1, 'public.user_to_person', { toType: 'user_renamed' }));
      expect(cycle).toBeInstanceOf(InvalidArgumentError);
      expect((cycle as Error).message).toContain('makes a cycle');
      await expect(owner.dropEventType('person_renamed')).rejects.toThrow(/part of an upcaster chain/);
    });

    it('refuses an upcaster with a gap, a volatile function, or a function of the wrong kind', async () => {
      await owner.defineEventType('order_placed');
      await owner.execScript(`create function public.volatile_upcast(body jsonb) returns jsonb language sql volatile as $$ select body $$;
                         create function public.wrong_kind(body text) returns jsonb language sql immutable as $$ select '{}'::jsonb $$`);
      await expect(owner.defineUpcaster('order_placed', 3, 'user_renamed_v1_to_v2')).rejects.toThrow(/from version 3/);
      await expect(owner.defineUpcaster('order_placed', 1, 'volatile_upcast')).rejects.toThrow(/is volatile/);
      await expect(owner.defineUpcaster('order_placed', 1, 'wrong_kind')).rejects.toThrow(/is not a function \(jsonb\) returns jsonb/);
      await expect(owner.defineUpcaster('order_placed', 1, 'no_such_function')).rejects.toBeInstanceOf(InvalidArgumentError);
      expect((await store.listDeclaredEventTypes()).find((d) => d.type === 'order_placed')?.version).toBe(1);
    });

    it.skipIf(engine.name !== 'server')('lists types with their upcasters in pgevents types', async () => {
      const result = await runCli(['--database-url', t.url!, '--json', 'types']);
      expect(result.exitCode).toBe(0);
      const listing = JSON.parse(result.stdout) as { upcasters: { type: string; fromVersion: number; finalType: string }[] };
      expect(listing.upcasters.map((u) => [u.type, u.fromVersion, u.finalType])).toEqual([
        ['user_renamed', 1, 'person_renamed'],
        ['user_renamed', 2, 'person_renamed'],
      ]);
      const stream = randomUUID();
      const appended = await runCli(['--database-url', t.url!, 'append', stream, 'user_renamed', '{"name": "Ada Lovelace"}', '--type-version', '1']);
      expect(appended.exitCode).toBe(0);
      expect(await storedBodies(stream)).toEqual([[{ first_name: 'Ada', last_name: 'Lovelace', kind: 'person' }, 1]]);
      const refused = await runCli(['--database-url', t.url!, 'append', stream, 'user_renamed', '{}', '--type-version', 'first']);
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toContain('--type-version');
    });
  });
}
