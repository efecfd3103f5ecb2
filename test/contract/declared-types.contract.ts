import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, InvalidEventError } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { runCli } from '../support/cli.js';
import { rejectionOf } from './fixtures.js';
import { engineLabel } from './subscriptions.contract.js';

export default function declaredTypesContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`declared event types (${engineLabel(engine)})`, () => {
    let t: TestStore;
    /** Appends as the application would (the writer role in the role variant). */
    let store: EventStore;
    /** Declares types and makes the store strict: the store's owner. */
    let owner: EventStore;

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      owner = t.owner ?? store;
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('declares types with a version and a description, lists them, and refuses a bad type or version', async () => {
      expect(await owner.defineEventType('user_create')).toMatchObject({ type: 'user_create', version: 1, description: null });
      await owner.defineEventType('user_update', { description: 'a user renamed' });
      expect(await owner.defineEventType('user_update', { version: 2, description: 'renamed, first and last' })).toMatchObject({ version: 2 });
      expect((await store.listDeclaredEventTypes()).map((d) => [d.type, d.version, d.description])).toEqual([
        ['user_create', 1, null],
        ['user_update', 2, 'renamed, first and last'],
      ]);
      await expect(owner.defineEventType('user update')).rejects.toBeInstanceOf(InvalidEventError);
      await expect(owner.defineEventType('user_login', { version: 0 })).rejects.toMatchObject({ field: 'version' });
      expect(await store.strictEventTypes()).toBe(false);
      await store.append(randomUUID(), [{ type: 'never_declared', body: {} }]);
    });

    it('refuses in a strict store an undeclared type from append, plain SQL and import, naming the closest declared one, and stores nothing', async () => {
      await owner.setStrictEventTypes(true);
      try {
        expect(await store.strictEventTypes()).toBe(true);
        const stream = randomUUID();
        const error = await rejectionOf(
          store.append(stream, [
            { type: 'user_create', body: { name: 'Ada' } },
            { type: 'update_user', body: { name: 'Ada L.' } },
          ]),
        );
        expect(error).toBeInstanceOf(InvalidEventError);
        expect((error as Error).message).toContain('Undeclared event type: update_user');
        expect((error as Error).message).toContain('did you mean user_update?');
        expect(error).toMatchObject({ field: 'type' });
        expect((await rejectionOf(store.append(stream, [{ type: 'user_updat', body: {} }])) as Error).message).toContain('did you mean user_update?');
        expect((await rejectionOf(store.append(stream, [{ type: 'order_placed', body: {} }])) as Error).message).not.toContain('did you mean');
        await expect(
          store.query(`insert into ${store.schema}.events (uuid, type, body) values ($1, 'update_user', '{}')`, [stream]),
        ).rejects.toThrow(/Undeclared event type: update_user/);
        const ndjson = `${JSON.stringify({ uuid: stream, type: 'user_create', body: {} })}\n${JSON.stringify({ uuid: stream, type: 'userupdate', body: {} })}\n`;
        await expect(store.importEvents((async function* () { yield ndjson; })(), { format: 'ndjson' })).rejects.toThrow(/Undeclared event type: userupdate/);
        expect(await store.readStream(stream)).toEqual([]);

        await store.append(stream, [
          { type: 'user_create', body: { name: 'Ada' } },
          { type: 'user_update', body: { name: 'Ada L.' } },
        ]);
        expect((await store.readStream(stream)).map((event) => event.type)).toEqual(['user_create', 'user_update']);
      } finally {
        await owner.setStrictEventTypes(false);
      }
      expect(await store.strictEventTypes()).toBe(false);
      await store.append(randomUUID(), [{ type: 'update_user', body: {} }]);
      expect(await owner.dropEventType('user_create')).toBe(true);
      expect(await owner.dropEventType('user_create')).toBe(false);
    });

    it.skipIf(engine.name !== 'server')('lists declared and stored types from the CLI', async () => {
      const listed = await runCli(['--database-url', t.url!, '--json', 'types']);
      expect(listed.exitCode).toBe(0);
      const { strict, types } = JSON.parse(listed.stdout) as { strict: boolean; types: { type: string; declared: boolean; version: number | null; events: number }[] };
      expect(strict).toBe(false);
      expect(types.find((row) => row.type === 'user_update')).toMatchObject({ declared: true, version: 2, events: 1 });
      expect(types.find((row) => row.type === 'update_user')).toMatchObject({ declared: false, version: null, events: 1 });
      const text = await runCli(['--database-url', t.url!, 'types']);
      expect(text.stdout).toContain('not strict');
      expect(text.stdout).toMatch(/user_update\s+v2/);
    });
  });
}
