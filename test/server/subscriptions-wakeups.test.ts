import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, Subscription } from '../../src/index.js';
import { appendEach, engineLabel, isolatedServer, recorder, waitFor } from '../contract/subscriptions.contract.js';
import { asApplicationRoles, type TestEngine, type TestStore } from '../support/engines.js';
import { appendOn as appendOnClient, TestClients } from '../support/sql-clients.js';

/** How long a wait for a state may take on a loaded machine before the test fails: a safety net. */
const WAIT_MS = 60_000;
/** The readers here poll once an hour: within a test, only a notification or their own reading can wake them. */
const HOURLY = 3_600_000;

function wakeups(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`wake-ups of listening readers (${engineLabel(engine)})`, { timeout: 180_000 }, () => {
    let t: TestStore;
    let store: EventStore;
    let owner: EventStore;
    const clients = new TestClients();
    const running: Subscription[] = [];

    const connect = () => clients.connect(t.url);
    const appendOn = (client: pg.Client, type: string) => appendOnClient(client, store.schema, type);

    /**
     * A session that LISTENs as the runners do (without registering as a listener): the payloads
     * of the store's channel, in commit order. `sync` waits until every notification of a
     * transaction committed before it has arrived: NOTIFY delivers in commit order, so it sends a
     * marker and waits for it.
     */
    async function observe() {
      const client = await connect();
      const payloads: string[] = [];
      client.on('notification', (message) => payloads.push(message.payload ?? ''));
      await client.query(`listen pgevents_${store.schema}`);
      return {
        payloads,
        async sync(): Promise<string[]> {
          const marker = `marker-${randomUUID()}`;
          await store.query('select pg_notify($1, $2)', [`pgevents_${store.schema}`, marker]);
          await waitFor(() => payloads.includes(marker), 'the marker notification', WAIT_MS);
          return payloads.splice(0).filter((payload) => payload !== marker);
        },
      };
    }

    async function listenerAwake(): Promise<boolean[]> {
      const rows = await owner.query<{ awake: boolean }>(`select awake from ${store.schema}.listeners order by id`);
      return rows.map((row) => row.awake);
    }

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      owner = t.owner ?? t.store;
    });
    afterAll(async () => {
      await Promise.all(running.map((subscription) => subscription.stop()));
      await clients.endAll();
      await t?.dispose();
    });

    it('stays awake while a writer is at work, so that appends do not notify it, and misses nothing when it goes back to sleep', async () => {
      const seen = recorder();
      const subscription = await store.subscribe({ name: 'awake', from: 'end', pollIntervalMs: HOURLY, handler: seen.handler });
      running.push(subscription);
      await subscription.caughtUp();
      const observer = await observe();
      await waitFor(async () => (await listenerAwake()).every((awake) => !awake), 'the reader to sleep', WAIT_MS);

      const held = await connect();
      await held.query('begin');
      const heldId = await appendOn(held, 'held');
      // The reader sleeps: this append notifies it, and once awake it finds the writer at work.
      const [wake] = await appendEach(store, ['wake']);
      expect(await observer.sync()).toEqual(['events']);
      await waitFor(async () => (await listenerAwake()).every((awake) => awake), 'the reader to stay awake for the writer', WAIT_MS);

      // Read committed appends while the reader is awake: no NOTIFY (their events are held back by
      // the open writer meanwhile; the reader polls for them by itself).
      const quiet = await appendEach(store, ['quiet_1', 'quiet_2', 'quiet_3']);
      expect(await observer.sync()).toEqual([]);
      expect(await listenerAwake()).toEqual([true]);

      // A REPEATABLE READ writer could have read the listeners before it held its lock: it notifies.
      const repeatable = await connect();
      await repeatable.query('begin isolation level repeatable read');
      const repeatableId = await appendOn(repeatable, 'repeatable');
      await repeatable.query('commit');
      expect(await observer.sync()).toEqual(['events']);

      await held.query('commit');
      // The open writer inserted while the reader slept: it notifies at its commit.
      expect(await observer.sync()).toEqual(['events']);
      const expected = [heldId, wake!, ...quiet, repeatableId];
      await waitFor(() => expected.every((id) => seen.counts.has(id)), 'every event, without a notification', WAIT_MS);
      await waitFor(async () => (await listenerAwake()).every((awake) => !awake), 'the reader to sleep again', WAIT_MS);

      // Asleep: an append notifies it again.
      const [late] = await appendEach(store, ['late']);
      expect(await observer.sync()).toEqual(['events']);
      await waitFor(() => seen.counts.has(late!), 'the event appended while it slept', WAIT_MS);
      expect([...expected, late!].map((id) => seen.counts.get(id))).toEqual([1, 1, 1, 1, 1, 1, 1]);
    });

    it('loses no wake-up while eight writers append in bursts and pause: every event is delivered once, within the test, by a reader polling once an hour', async () => {
      const seen = recorder();
      const follower = recorder();
      const subscription = await store.subscribe({ name: 'bursts', from: 'end', pollIntervalMs: HOURLY, batchSize: 20, handler: seen.handler });
      running.push(subscription);
      await subscription.caughtUp();
      const tail = await store.follow({ from: 'end', pollIntervalMs: HOURLY, handler: follower.handler });
      try {
        for (let round = 0; round < 6; round++) {
          const ids: string[] = [];
          let remaining = 40 + round * 20;
          await Promise.all(
            Array.from({ length: 8 }, async () => {
              while (remaining > 0) {
                remaining -= 1;
                ids.push(...(await appendEach(store, [`burst_${round}`])));
              }
            }),
          );
          // The last writer has committed: only the protocol can get the last events delivered now.
          await waitFor(() => ids.every((id) => seen.counts.has(id) && follower.counts.has(id)), `round ${round}'s ${ids.length} events`, WAIT_MS);
          expect(ids.filter((id) => seen.counts.get(id) !== 1 || follower.counts.get(id) !== 1)).toEqual([]);
        }
      } finally {
        await tail.stop();
      }
    });
  });
}

wakeups(isolatedServer);
wakeups(asApplicationRoles(isolatedServer));
