import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EmbeddedConnectionBusyError,
  type EventStore,
  InvalidArgumentError,
  InvalidCursorError,
  type StoredEvent,
  type Subscription,
  SubscriptionFailedError,
  SubscriptionInUseError,
  SubscriptionStateError,
  SubscriptionStoppedError,
  UnknownSubscriptionError,
} from '../../src/index.js';
export { runCli } from '../support/cli.js';
import { server, serverTestStore, type TestEngine, type TestStore } from '../support/engines.js';
import { createClusterDatabase, startThrowawayCluster, throwawayClusterUnavailable } from '../support/throwaway-cluster.js';

/**
 * The server engine on a PostgreSQL cluster of its own for each store (falling back to the shared
 * server when no PostgreSQL binaries are installed). The gap-safe horizon is cluster-wide: on a
 * shared server a long transaction in any other database (a benchmark, another suite) holds every
 * delivery back, and these tests would measure that instead of pgevents.
 */
export const isolatedServer: TestEngine = {
  name: 'server',
  get unavailable() {
    return throwawayClusterUnavailable() === null ? null : server.unavailable;
  },
  async createStore() {
    if (throwawayClusterUnavailable() !== null) return server.createStore();
    const cluster = await startThrowawayCluster({ fsync: 'off' });
    try {
      const url = await createClusterDatabase(cluster, 'pgevents_test');
      return await serverTestStore(url, () => cluster.destroy(), { migrate: true });
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  },
};

/**
 * Waits until condition holds, checking every 20 ms; fails with `what` after the deadline, a safety
 * net generous enough for a machine loaded by other work (and shorter than a test's 60 s timeout).
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

/** A handler that records what it is given, and how often each event came. */
export function recorder() {
  const events: StoredEvent[] = [];
  const counts = new Map<string, number>();
  return {
    events,
    counts,
    handler: (batch: StoredEvent[]) => {
      for (const event of batch) {
        events.push(event);
        counts.set(event.eventId, (counts.get(event.eventId) ?? 0) + 1);
      }
    },
    types: () => events.map((event) => event.type),
  };
}

/** Appends one event of each type, each in its own transaction; returns their ids. */
export async function appendEach(store: EventStore, types: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const type of types) {
    const { events } = await store.append(randomUUID(), [{ type, body: { type } }]);
    ids.push(events[0]!.eventId);
  }
  return ids;
}

/**
 * Waits until every committed event is safe to read. On a shared server an open transaction in any
 * database holds events back; tests that depend on what 'end' or readAll see wait for it first.
 */
export async function settled(store: EventStore): Promise<void> {
  await waitFor(async () => {
    const [row] = await store.query<{ held: boolean }>(
      `select exists (select 1 from ${store.schema}.events where transaction_id >= (select ${store.schema}.safe_horizon())) as held`,
    );
    return row?.held === false;
  }, 'every committed event to be safe to read', 60_000);
}

export async function checkpointOf(store: EventStore, name: string): Promise<string> {
  const info = (await store.listSubscriptions()).find((subscription) => subscription.name === name);
  if (!info) throw new Error(`no subscription ${name}`);
  return info.checkpoint;
}

export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** The suite's title for an engine: its name, and how it is reached when not as the owner. */
export function engineLabel(engine: TestEngine): string {
  return engine.variant ? `${engine.name}, ${engine.variant}` : engine.name;
}

export default function subscriptionsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`subscriptions (${engineLabel(engine)})`, () => {
    let t: TestStore;
    let store: EventStore;
    // Resets, skips and resumes are an operator's: the store's owner does them itself; an
    // application role's suite has them done by the operator role's store.
    let operator: EventStore;
    const running: Subscription[] = [];
    // 'end' starts after the last event safe to read: settle first, so that no event of an earlier
    // test still held back by an open transaction counts as new.
    const subscribe = async (...args: Parameters<EventStore['subscribe']>) => {
      await settled(store);
      const subscription = await store.subscribe(...args);
      running.push(subscription);
      return subscription;
    };

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      operator = t.operator ?? store;
    });
    afterAll(async () => {
      await Promise.all(running.map((subscription) => subscription.stop()));
      await t?.dispose();
    });

    it('catches up from the start in log order, then delivers new events live', async () => {
      const stream = randomUUID();
      await store.append(stream, [
        { type: 'order_placed', body: { n: 1 } },
        { type: 'order_paid', body: { n: 2 } },
      ]);
      const seen = recorder();
      const subscription = await subscribe({ name: 'catch-up', handler: seen.handler });
      await subscription.caughtUp();
      const before = seen.events.length;
      expect(seen.events.filter((event) => event.stream === stream).map((event) => event.version)).toEqual([1, 2]);

      await store.append(stream, [{ type: 'order_shipped', body: { n: 3 } }]);
      await waitFor(() => seen.events.length === before + 1, 'the live event');
      expect(seen.events.at(-1)).toMatchObject({ stream, version: 3, type: 'order_shipped' });
      const last = seen.events.at(-1)!;
      await waitFor(async () => (await checkpointOf(store, 'catch-up')) === `${last.transactionId}-${last.position}`, 'the checkpoint');
      expect(subscription.state).toBe('live');
    });

    it("starts at the end when asked, and on restart resumes from its checkpoint instead of 'from'", async () => {
      await appendEach(store, ['before_start']);
      await settled(store);
      const seen = recorder();
      const first = await subscribe({ name: 'from-end', from: 'end', handler: seen.handler });
      await first.caughtUp();
      expect(seen.events).toEqual([]);
      await appendEach(store, ['while_running']);
      await first.caughtUp();
      await first.stop();
      expect(first.state).toBe('stopped');

      await appendEach(store, ['while_stopped']);
      const second = await subscribe({ name: 'from-end', from: 'end', handler: seen.handler });
      await second.caughtUp();
      expect(seen.types()).toEqual(['while_running', 'while_stopped']);
    });

    it('starts after a cursor handed out by readAll', async () => {
      await appendEach(store, ['cursor_a', 'cursor_b', 'cursor_c']);
      await settled(store);
      const all = await store.readAll({ limit: 100_000 });
      const b = all.events.findLast((event) => event.type === 'cursor_b')!;
      const seen = recorder();
      const subscription = await subscribe({
        name: 'from-cursor',
        from: `${b.transactionId}-${b.position}`,
        types: ['cursor_a', 'cursor_b', 'cursor_c'],
        handler: seen.handler,
      });
      await subscription.caughtUp();
      expect(seen.types()).toEqual(['cursor_c']);
    });

    it('read_page in SQL: the events of its types after a cursor, the last safe event when the page is not full, and PE003 for a bad limit', async () => {
      await appendEach(store, ['page_a', 'page_b', 'page_a']);
      await settled(store);
      const all = (await store.readAll({ limit: 100_000 })).events;
      const mine = all.filter((event) => event.type === 'page_a' || event.type === 'page_b').slice(-3);
      const first = mine[0]!;
      const last = all.at(-1)!;
      const page = (limit: number, types: string[] | null) =>
        store.query<{ kind: string; id: unknown; type: string | null; transaction_id: string }>(
          `select kind, id, type, transaction_id from ${store.schema}.read_page($1::xid8, $2::bigint, $3::int, $4::text[])`,
          [first.transactionId, first.position - 1, limit, types],
        );
      const partial = await page(10, ['page_a']);
      expect(partial.map((row) => [row.kind, Number(row.id), row.type])).toEqual([
        ['event', mine[0]!.position, 'page_a'],
        ['event', mine[2]!.position, 'page_a'],
        ['head', last.position, null],
      ]);
      expect(partial.at(-1)!.transaction_id).toBe(last.transactionId);
      const full = await page(2, null);
      expect(full.map((row) => [row.kind, row.type])).toEqual([
        ['event', 'page_a'],
        ['event', 'page_b'],
      ]);
      const none = await page(10, ['page_none']);
      expect(none.map((row) => [row.kind, Number(row.id)])).toEqual([['head', last.position]]);
      await expect(page(0, null)).rejects.toThrow(/Invalid limit: 0/);
    });

    it('delivers only the types it asks for, and its checkpoint moves past the others', async () => {
      const seen = recorder();
      const subscription = await subscribe({ name: 'some-types', types: ['wanted'], handler: seen.handler });
      await appendEach(store, ['unwanted', 'wanted', 'unwanted', 'unwanted']);
      await subscription.caughtUp();
      expect(seen.types()).toEqual(['wanted']);
      await settled(store);
      await subscription.caughtUp();
      const info = (await store.listSubscriptions()).find((candidate) => candidate.name === 'some-types')!;
      expect(info.lagEvents).toBe(0);
      const last = (await store.readAll({ limit: 100_000 })).events.at(-1)!;
      expect(info.checkpoint).toBe(`${last.transactionId}-${last.position}`);
    });

    it('refuses a malformed or unknown cursor, a bad batch size and a bad name, and creates nothing', async () => {
      const handler = () => undefined;
      const malformed = await rejectionOf(store.subscribe({ name: 'bad-input', from: 'yesterday', handler }));
      expect(malformed).toBeInstanceOf(InvalidCursorError);
      expect(malformed).toMatchObject({ code: 'INVALID_CURSOR', reason: 'malformed' });

      const unknown = await rejectionOf(store.subscribe({ name: 'bad-input', from: '999999999-424242', handler }));
      expect(unknown).toBeInstanceOf(InvalidCursorError);
      expect(unknown).toMatchObject({ reason: 'unknown' });
      expect((unknown as Error).message).toContain('999999999-424242');

      for (const batchSize of [-1, 0, 1.5, 100_000]) {
        await expect(store.subscribe({ name: 'bad-input', batchSize, handler })).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
          argument: 'batchSize',
        });
      }
      await expect(store.subscribe({ name: 'Bad Name', handler })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(store.subscribe({ name: 'bad-input', handler: 'nope' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
      expect((await store.listSubscriptions()).map((info) => info.name)).not.toContain('bad-input');
    });

    it('refuses reset, skip and resume of an unknown subscription, and skip or resume of one that has not failed', async () => {
      for (const operation of [
        () => operator.resetSubscription('no-such-subscription'),
        () => operator.skipSubscriptionEvent('no-such-subscription'),
        () => operator.resumeSubscription('no-such-subscription'),
      ]) {
        const error = await rejectionOf(operation());
        expect(error).toBeInstanceOf(UnknownSubscriptionError);
        expect(error).toMatchObject({ subscription: 'no-such-subscription' });
      }
      await subscribe({ name: 'healthy', handler: () => undefined });
      await expect(operator.skipSubscriptionEvent('healthy')).rejects.toBeInstanceOf(SubscriptionStateError);
      await expect(operator.resumeSubscription('healthy')).rejects.toBeInstanceOf(SubscriptionStateError);
      await expect(operator.resetSubscription('healthy', { to: '12-x' })).rejects.toBeInstanceOf(InvalidCursorError);
    });

    it('stops gracefully: it finishes the batch in hand and saves its checkpoint', async () => {
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let entered = false;
      const handled: string[] = [];
      const subscription = await subscribe({
        name: 'graceful',
        from: 'end',
        handler: async (events) => {
          entered = true;
          await released;
          handled.push(...events.map((event) => event.eventId));
        },
      });
      const [id] = await appendEach(store, ['graceful_stop']);
      await waitFor(() => entered, 'the handler to start');
      const stopped = subscription.stop();
      release();
      await stopped;
      expect(handled).toEqual([id]);
      const info = (await store.listSubscriptions()).find((candidate) => candidate.name === 'graceful')!;
      expect(info.state).toBe('stopped');
      expect(info.lagEvents).toBe(0);
      const [me] = await store.query<{ role: string }>('select current_user::text as role');
      expect(info.owner).toBe(me!.role);
    });

    it('rejects caughtUp() with SubscriptionStoppedError when the subscription stops before it caught up', async () => {
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let entered = false;
      const subscription = await subscribe({
        name: 'stopped-early',
        from: 'end',
        batchSize: 1,
        handler: async () => {
          entered = true;
          await released;
        },
      });
      await appendEach(store, ['stopped_early', 'stopped_early']);
      await waitFor(() => entered, 'the handler to start');
      const caughtUp = rejectionOf(subscription.caughtUp());
      const stopped = subscription.stop();
      release();
      await stopped;
      const error = await caughtUp;
      expect(error).toBeInstanceOf(SubscriptionStoppedError);
      expect(error).toMatchObject({ code: 'SUBSCRIPTION_STOPPED', subscription: 'stopped-early' });
    });

    it('retries a failing handler with backoff, then stops in the failed state naming the event; skip goes on', async () => {
      const seen = recorder();
      let poisonAttempts = 0;
      const errors: unknown[] = [];
      const subscription = await subscribe({
        name: 'poisoned',
        from: 'end',
        retry: { maxAttempts: 3, initialDelayMs: 5 },
        onError: (error) => errors.push(error),
        handler: (events) => {
          if (events.some((event) => event.type === 'poison')) {
            poisonAttempts += events.length === 1 ? 1 : 0;
            throw new Error('cannot digest poison');
          }
          seen.handler(events);
        },
      });
      const stream = randomUUID();
      await store.append(stream, [
        { type: 'food', body: {} },
        { type: 'poison', body: {} },
        { type: 'food', body: {} },
      ]);
      const failure = await rejectionOf(subscription.caughtUp());
      expect(failure).toBeInstanceOf(SubscriptionFailedError);
      expect(failure).toMatchObject({ subscription: 'poisoned', eventType: 'poison', stream, version: 2, attempts: 3 });
      expect((failure as Error).message).toContain('cannot digest poison');
      expect(subscription.state).toBe('failed');
      expect(subscription.failure).toBe(failure);
      expect(poisonAttempts).toBe(3);
      expect(errors.at(-1)).toBe(failure);
      expect(seen.events.map((event) => event.version)).toEqual([1]);

      const info = (await store.listSubscriptions()).find((candidate) => candidate.name === 'poisoned')!;
      expect(info).toMatchObject({ state: 'failed', attempts: 3, lastError: 'cannot digest poison', lagEvents: 2 });
      expect(info.failedEvent).toMatchObject({ type: 'poison', stream, version: 2 });

      // The owner skips through the subscription; an operator, from another process, by name.
      await (t.operator ? t.operator.skipSubscriptionEvent('poisoned') : subscription.skip());
      await subscription.caughtUp();
      expect(seen.events.map((event) => event.version)).toEqual([1, 3]);
      expect(subscription.state).toBe('live');
      expect(subscription.failure).toBeNull();
      expect((await store.listSubscriptions()).find((candidate) => candidate.name === 'poisoned')).toMatchObject({
        state: 'running',
        attempts: 0,
        failedEvent: null,
      });
    });

    it('stays failed across a restart, and retries the event when resumed', async () => {
      let healed = false;
      const seen = recorder();
      const handler = (events: StoredEvent[]) => {
        if (!healed) throw new Error('not yet');
        seen.handler(events);
      };
      const first = await subscribe({ name: 'resumable', from: 'end', retry: { maxAttempts: 1 }, handler });
      const [id] = await appendEach(store, ['needs_fix']);
      await expect(first.caughtUp()).rejects.toBeInstanceOf(SubscriptionFailedError);
      await first.stop();

      healed = true;
      const second = await subscribe({ name: 'resumable', handler });
      await expect(second.caughtUp()).rejects.toBeInstanceOf(SubscriptionFailedError);
      expect(second.state).toBe('failed');
      expect(seen.events).toEqual([]);

      await operator.resumeSubscription('resumable');
      await waitFor(() => seen.events.length === 1, 'the retried event');
      expect(seen.events[0]!.eventId).toBe(id);
    });

    it('commits a transactional handler’s writes with its checkpoint: a failed attempt leaves no effect', async () => {
      await store.execScript('create table public.subscription_effects (event_id uuid not null, subscription text not null)');
      let failNext = true;
      const subscription = await subscribe({
        name: 'effects',
        from: 'end',
        transactional: true,
        retry: { initialDelayMs: 5 },
        handler: async (events, tx) => {
          for (const event of events) {
            await tx.query('insert into public.subscription_effects (event_id, subscription) values ($1, $2)', [event.eventId, 'effects']);
          }
          if (failNext) {
            failNext = false;
            throw new Error('fails after writing');
          }
        },
      });
      const ids = await appendEach(store, ['effect_1', 'effect_2']);
      await subscription.caughtUp();
      const rows = await store.query<{ event_id: string }>(
        `select event_id::text from public.subscription_effects where subscription = 'effects' order by event_id`,
      );
      expect(rows.map((row) => row.event_id)).toEqual([...ids].sort());
    });

    it('reset moves the checkpoint back, and the running subscription delivers again from there', async () => {
      const seen = recorder();
      const subscription = await subscribe({ name: 'rewind', types: ['rewind_me'], handler: seen.handler });
      await appendEach(store, ['rewind_me', 'rewind_me']);
      await subscription.caughtUp();
      expect(seen.events).toHaveLength(2);
      const info = await operator.resetSubscription('rewind');
      expect(info.name).toBe('rewind');
      // caughtUp() must not trust the checkpoint it held before the reset.
      await subscription.caughtUp();
      expect(seen.events).toHaveLength(4);
      expect(seen.counts.size).toBe(2);
    });

    it('runs a name once: a second runner is refused, or waits and takes over when the first stops', async () => {
      const first = recorder();
      const second = recorder();
      const one = await subscribe({ name: 'single', from: 'end', takeoverIntervalMs: 20, handler: first.handler });
      const refused = await rejectionOf(store.subscribe({ name: 'single', ifRunning: 'fail', handler: second.handler }));
      expect(refused).toBeInstanceOf(SubscriptionInUseError);
      expect((refused as Error).message).toContain('single');
      const two = await subscribe({ name: 'single', takeoverIntervalMs: 20, handler: second.handler });
      expect(two.state).toBe('waiting');

      await appendEach(store, ['single_1', 'single_2']);
      await one.caughtUp();
      expect(first.types()).toEqual(['single_1', 'single_2']);
      await one.stop();
      await appendEach(store, ['single_3']);
      await waitFor(() => second.events.length === 1, 'the second runner to take over');
      expect(second.types()).toEqual(['single_3']);
      expect(first.types()).toEqual(['single_1', 'single_2']);
    });

    it('lists each subscription with its checkpoint, lag in events and seconds, and state', async () => {
      const subscription = await subscribe({ name: 'lagging', from: 'end', handler: () => undefined });
      await subscription.stop();
      await appendEach(store, ['lag_1', 'lag_2', 'lag_3']);
      const info = (await store.listSubscriptions()).find((candidate) => candidate.name === 'lagging')!;
      expect(info).toMatchObject({ kind: 'subscription', state: 'stopped', lagEvents: 3, runner: null });
      expect(info.heldBackEvents).toBeLessThanOrEqual(3);
      expect(info.lagSeconds).toBeGreaterThanOrEqual(0);
      expect(info.checkpoint).toMatch(/^\d+-\d+$/);
      const status = await store.status();
      expect(status.subscriptions.find((candidate) => candidate.name === 'lagging')).toMatchObject({ lagEvents: 3 });
    });

    it.skipIf(engine.name !== 'embedded')(
      'fails a transactional handler that queries outside its transaction on the one embedded connection, instead of hanging',
      async () => {
        const subscription = await subscribe({
          name: 'outside-tx',
          from: 'end',
          transactional: true,
          retry: { maxAttempts: 1 },
          handler: async () => {
            await store.append(randomUUID(), [{ type: 'from_handler', body: {} }]);
          },
        });
        await appendEach(store, ['trigger_outside']);
        const failure = await rejectionOf(subscription.caughtUp());
        expect(failure).toBeInstanceOf(SubscriptionFailedError);
        expect((failure as Error).cause).toBeInstanceOf(EmbeddedConnectionBusyError);
      },
    );
  });
}
