import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeSchemaVersion } from '../../src/migrations/runner.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { rejectionOf, usersHandlers, usersReadModelSql } from './fixtures.js';

export default function statusContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`status (${engine.name})`, () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await engine.createStore();
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('reports an empty store', async () => {
      expect(await t.store.status()).toMatchObject({
        engine: engine.name,
        schema: 'pgevents',
        schemaVersion: codeSchemaVersion(),
        events: 0,
        streams: 0,
        lastPosition: null,
        eventTypes: [],
        unhandledTypes: [],
        strictEventTypes: false,
        undeclaredTypes: [],
        projections: [],
      });
    });

    it('counts events and streams, and lists each stored type with the projections that handle it', async () => {
      await t.store.execScript(usersReadModelSql(t.store.schema));
      await t.store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
      const [ada, grace] = [randomUUID(), randomUUID()];
      await t.store.append(ada, [
        { type: 'user_create', body: { name: 'Ada' } },
        { type: 'user_update', body: { name: 'Ada L.' } },
      ]);
      await t.store.append(grace, [{ type: 'user_create', body: { name: 'Grace' } }]);
      // The seed's own mix-up: an update stored as update_user, which no projection handles.
      await t.store.execScript(`insert into events (type, uuid, body) values ('update_user', '${grace}', '{"name": "G."}')`);
      const { events } = await t.store.append(ada, [{ type: 'user_update', body: { name: 'Countess' } }]);

      const status = await t.store.status();
      expect(status).toMatchObject({ events: 5, streams: 2, lastPosition: events[0]!.position });
      expect(status.eventTypes).toEqual([
        { type: 'update_user', events: 1, lastPosition: expect.any(Number), handledBy: [] },
        { type: 'user_create', events: 2, lastPosition: expect.any(Number), handledBy: ['users'] },
        { type: 'user_update', events: 2, lastPosition: events[0]!.position, handledBy: ['users'] },
      ]);
      expect(status.unhandledTypes).toEqual(['update_user']);
      expect(status.projections.map((projection) => projection.name)).toEqual(['users']);
    });

    it('lists every projection that handles a type, and a type becomes handled once a projection handles it', async () => {
      await t.store.execScript(`
        create table public.renames (uuid uuid, name text);
        create function public.project_rename(p_uuid uuid, p_body jsonb) returns void
        language plpgsql set search_path = public, pg_temp
        as $$ begin insert into renames values (p_uuid, p_body ->> 'name'); end; $$;`);
      await t.store.defineProjection({
        name: 'renames',
        handlers: { user_update: 'public.project_rename', update_user: 'public.project_rename' },
        tables: ['public.renames'],
      });
      const status = await t.store.status();
      expect(status.eventTypes.map((type) => [type.type, type.handledBy])).toEqual([
        ['update_user', ['renames']],
        ['user_create', ['users']],
        ['user_update', ['renames', 'users']],
      ]);
      expect(status.unhandledTypes).toEqual([]);
      expect(status.projections.map((projection) => [projection.name, projection.kind])).toEqual([
        ['renames', 'trigger'],
        ['users', 'trigger'],
      ]);
    });

    it('does not count a stream whose only append was rejected', async () => {
      const before = await t.store.status();
      await rejectionOf(t.store.append(randomUUID(), [{ type: 'user_create', body: {} }], { expectedVersion: 'stream_exists' }));
      await rejectionOf(t.store.append(randomUUID(), [{ type: 'user_create', body: {} }], { expectedVersion: 3 }));
      const after = await t.store.status();
      expect(after).toMatchObject({ events: before.events, streams: before.streams, lastPosition: before.lastPosition });
    });

    it('counts types and projections of materialized views too', async () => {
      await t.store.defineMaterializedView({ name: 'type_counts', query: `select type, count(*) as n from ${t.store.schema}.events group by type` });
      const status = await t.store.status();
      expect(status.projections.find((projection) => projection.name === 'type_counts')?.kind).toBe('materialized_view');
      expect(status.unhandledTypes).toEqual([]);
    });

    it('reports whether the store is strict, and the stored types it does not declare once it declares some', async () => {
      const stored = (await t.store.status()).eventTypes.map((type) => type.type);
      expect((await t.store.status()).undeclaredTypes).toEqual([]);
      await t.store.defineEventType(stored[0]!);
      await t.store.setStrictEventTypes(true);
      try {
        const status = await t.store.status();
        expect(status.strictEventTypes).toBe(true);
        expect(status.undeclaredTypes).toEqual(stored.slice(1));
      } finally {
        await t.store.setStrictEventTypes(false);
        await t.store.dropEventType(stored[0]!);
      }
      expect((await t.store.status()).strictEventTypes).toBe(false);
    });
  });
}
