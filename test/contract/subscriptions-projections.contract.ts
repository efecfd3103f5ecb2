import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AsyncProjectionHandler,
  type EventStore,
  InvalidCursorError,
  ProjectionDefinitionError,
  ReplayRefusedError,
  type Subscription,
  SubscriptionDefinitionError,
} from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { appendEach, engineLabel, recorder, rejectionOf, settled, waitFor } from './subscriptions.contract.js';

const handlers: Record<string, AsyncProjectionHandler> = {
  user_registered: async (event, tx) => {
    await tx.query('insert into public.async_user_names (uuid, name) values ($1, $2)', [event.stream, event.body.name]);
  },
  user_renamed: async (event, tx) => {
    await tx.query('update public.async_user_names set name = $2 where uuid = $1', [event.stream, event.body.name]);
  },
};

export default function asyncProjectionsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`async projections, follow and reading after a cursor (${engineLabel(engine)})`, () => {
    let t: TestStore;
    let store: EventStore;
    // Replays of async projections are resets: an operator's (see subscriptions.contract.ts).
    let operator: EventStore;
    const running: { stop(): Promise<void> }[] = [];
    let users: Subscription | undefined;

    async function names(): Promise<Record<string, string>> {
      const rows = await store.query<{ uuid: string; name: string }>('select uuid::text, name from public.async_user_names');
      return Object.fromEntries(rows.map((row) => [row.uuid, row.name]));
    }

    async function startUsers(): Promise<Subscription> {
      const projection = await store.startAsyncProjection({
        name: 'async_users',
        tables: ['public.async_user_names'],
        handlers,
        takeoverIntervalMs: 20,
      });
      running.push(projection);
      users = projection;
      return projection;
    }

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      operator = t.operator ?? store;
      await store.execScript(`
        create table public.async_user_names (uuid uuid primary key, name text not null);
        create table public.async_type_counts (type text primary key, n int not null);`);
      // An application's tables are its own: the operator that replays them must be allowed to empty them.
      if (t.roles) await store.execScript(`grant truncate on public.async_user_names to ${t.roles.operator}`);
    });
    afterAll(async () => {
      await Promise.all(running.map((reader) => reader.stop()));
      await t?.dispose();
    });

    it('builds its read model from the start of the log, then follows new events', async () => {
      const ada = randomUUID();
      await store.append(ada, [
        { type: 'user_registered', body: { name: 'Ada' } },
        { type: 'user_renamed', body: { name: 'Ada L.' } },
      ]);
      const projection = await startUsers();
      await projection.caughtUp();
      expect(await names()).toEqual({ [ada]: 'Ada L.' });

      const grace = randomUUID();
      await store.append(grace, [{ type: 'user_registered', body: { name: 'Grace' } }]);
      await waitFor(async () => (await names())[grace] === 'Grace', 'the new user in the read model');
      const info = (await store.listSubscriptions()).find((candidate) => candidate.name === 'async_users')!;
      expect(info).toMatchObject({ kind: 'projection', state: 'running', tables: ['public.async_user_names'] });
      expect(info.types).toEqual(['user_registered', 'user_renamed']);
    });

    it.skipIf(engine.variant !== undefined)('replays: empties its tables and applies every event again, reporting progress', async () => {
      const before = await names();
      await store.query(`update public.async_user_names set name = 'corrupted'`);
      const progress: number[] = [];
      const result = await store.replay('async_users', { onProgress: ({ applied }) => progress.push(applied) });
      expect(result).toMatchObject({ projection: 'async_users', applied: 3 });
      expect(result.deferred).toBeUndefined();
      expect(progress.at(-1)).toBe(3);
      expect(await names()).toEqual(before);
    });

    it.runIf(engine.variant !== undefined)('is replayed by an operator in another process: the running projection applies every event again', async () => {
      const before = await names();
      await store.query(`update public.async_user_names set name = 'corrupted'`);
      const result = await operator.replay('async_users');
      expect(result).toEqual({ projection: 'async_users', applied: 0, deferred: true });
      await users!.caughtUp();
      expect(await names()).toEqual(before);
    });

    it('defers a replay to its runner when this store does not run it', async () => {
      const before = await names();
      const projection = running.pop()!;
      await projection.stop();
      const result = await operator.replay('async_users');
      expect(result).toEqual({ projection: 'async_users', applied: 0, deferred: true });
      expect(await names()).toEqual({});
      expect((await store.listSubscriptions()).find((candidate) => candidate.name === 'async_users')).toMatchObject({
        checkpoint: '0-0',
        state: 'stopped',
      });
      const again = await startUsers();
      await again.caughtUp();
      expect(await names()).toEqual(before);
    });

    it('applies each event exactly once to its tables, even when a batch fails part-way and is retried', async () => {
      let failOnce = true;
      const count: AsyncProjectionHandler = async (event, tx) => {
        await tx.query(
          'insert into public.async_type_counts (type, n) values ($1, 1) on conflict (type) do update set n = async_type_counts.n + 1',
          [event.type],
        );
        if (event.body.poison === true && failOnce) {
          failOnce = false;
          throw new Error('fails once, after writing');
        }
      };
      const projection = await store.startAsyncProjection({
        name: 'async_counts',
        tables: ['public.async_type_counts'],
        handlers: { counted: count },
        retry: { initialDelayMs: 5 },
      });
      running.push(projection);
      await store.append(randomUUID(), [
        { type: 'counted', body: {} },
        { type: 'counted', body: { poison: true } },
        { type: 'counted', body: {} },
      ]);
      await projection.caughtUp();
      expect(failOnce).toBe(false);
      expect(await store.query('select type, n from public.async_type_counts')).toEqual([{ type: 'counted', n: 3 }]);
    });

    it('refuses a partial replay, a name taken by the other kind, and a missing table', async () => {
      await expect(store.replay('async_users', { stream: randomUUID() })).rejects.toBeInstanceOf(ReplayRefusedError);
      await expect(store.replay('async_users', { fromPosition: 1 })).rejects.toBeInstanceOf(ReplayRefusedError);

      const subscription = await store.subscribe({ name: 'plain_name', handler: () => undefined });
      running.push(subscription);
      await expect(store.startAsyncProjection({ name: 'plain_name', handlers })).rejects.toBeInstanceOf(ProjectionDefinitionError);
      await expect(store.subscribe({ name: 'async_users', handler: () => undefined })).rejects.toBeInstanceOf(SubscriptionDefinitionError);
      const missing = await rejectionOf(store.startAsyncProjection({ name: 'no_table', tables: ['public.no_such_table'], handlers }));
      expect(missing).toBeInstanceOf(ProjectionDefinitionError);
      expect((missing as Error).message).toContain('public.no_such_table');
      await expect(store.startAsyncProjection({ name: 'No-Good', handlers })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('follows the log from a cursor and live, without a checkpoint', async () => {
      await appendEach(store, ['follow_old']);
      await settled(store);
      const seen = recorder();
      const follower = await store.follow({ from: 'end', types: ['follow_new', 'follow_old'], handler: seen.handler });
      running.push(follower);
      await appendEach(store, ['follow_new', 'follow_new']);
      await follower.caughtUp();
      expect(seen.types()).toEqual(['follow_new', 'follow_new']);
      expect(follower.cursor).toMatch(/^\d+-\d+$/);
      await expect(store.follow({ from: 'not-a-cursor', handler: () => undefined })).rejects.toBeInstanceOf(InvalidCursorError);
    });

    it('reads the safe events after a cursor in plain SQL, refusing malformed and unknown cursors', async () => {
      await appendEach(store, ['sql_read', 'sql_read', 'sql_read']);
      await settled(store);
      const schema = store.schema;
      const first = await store.query<{ cursor: string; type: string }>(
        `select cursor, type from ${schema}.read_all_after('start', 2, array['sql_read'])`,
      );
      expect(first.map((row) => row.type)).toEqual(['sql_read', 'sql_read']);
      const rest = await store.query<{ cursor: string }>(`select cursor from ${schema}.read_all_after($1, 100, array['sql_read'])`, [
        first[1]!.cursor,
      ]);
      expect(rest).toHaveLength(1);
      expect(rest[0]!.cursor > first[1]!.cursor || rest[0]!.cursor.length > first[1]!.cursor.length).toBe(true);
      const [counted] = await store.query<{ n: unknown }>(`select count(*) as n from ${schema}.safe_events where type = 'sql_read'`);
      expect(Number(counted!.n)).toBe(3);

      const malformed = await rejectionOf(store.query(`select * from ${schema}.read_all_after('12;drop')`));
      expect(malformed).toBeInstanceOf(InvalidCursorError);
      expect(malformed).toMatchObject({ reason: 'malformed' });
      const unknown = await rejectionOf(store.query(`select * from ${schema}.read_all_after('123456789-987654')`));
      expect(unknown).toMatchObject({ code: 'INVALID_CURSOR', reason: 'unknown' });
    });
  });
}
