import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, Subscription } from '../../src/index.js';
import { appendEach, checkpointOf, engineLabel, isolatedServer, recorder, runCli, settled, waitFor } from '../contract/subscriptions.contract.js';
import { asApplicationRoles, type TestEngine, type TestStore } from '../support/engines.js';
import { appendOn as appendOnClient, TestClients } from '../support/sql-clients.js';
import { runnerReadTwiceSince, serverNow } from '../support/subscription-runner.js';

/** How long a wait for a state may take on a loaded machine before the test fails: a safety net. */
const WAIT_MS = 60_000;

function subscriptionsAndOpenTransactions(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`subscriptions and open transactions (${engineLabel(engine)})`, { timeout: 180_000 }, () => {
    let t: TestStore;
    let store: EventStore;
    const clients = new TestClients();
    const running: Subscription[] = [];

    const connect = () => clients.connect(t.url);
    const appendOn = (client: pg.Client, type: string) => appendOnClient(client, store.schema, type);

    /** Appends count events, eight at a time, each in its own transaction. */
    async function appendConcurrently(count: number, type: string): Promise<string[]> {
      const ids: string[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < count) {
            next += 1;
            ids.push(...(await appendEach(store, [type])));
          }
        }),
      );
      return ids;
    }

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
    });
    afterAll(async () => {
      await Promise.all(running.map((subscription) => subscription.stop()));
      await clients.endAll();
      await t?.dispose();
    });

    for (const outcome of ['commit', 'rollback'] as const) {
      it(`delivers every append exactly once when one held open while 100 others commit ends in ${outcome}, and its checkpoint never passes the held one`, async () => {
        const name = `held-${outcome}`;
        const seen = recorder();
        await settled(store);
        const subscription = await store.subscribe({ name, from: 'end', batchSize: 25, handler: seen.handler });
        running.push(subscription);
        await subscription.caughtUp();

        const held = await connect();
        await held.query('begin');
        const heldId = await appendOn(held, 'held_append');
        const { rows } = await held.query<{ xid: string }>('select pg_current_xact_id()::text as xid');
        const heldXid = BigInt(rows[0]!.xid);
        const others = await appendConcurrently(100, 'other_append');

        // Once the runner has read (and handed over) what the log holds after the 100 commits, it
        // has had every chance to pass the held append: it must not have.
        await runnerReadTwiceSince(store, name, await serverNow(store), WAIT_MS);
        const [transactionId] = (await checkpointOf(store, name)).split('-');
        expect(BigInt(transactionId!)).toBeLessThan(heldXid);
        expect(others.filter((id) => seen.counts.has(id))).toEqual([]);
        const info = (await store.listSubscriptions()).find((candidate) => candidate.name === name)!;
        expect(info.lagEvents).toBeGreaterThanOrEqual(100);
        expect(info.heldBackEvents).toBeGreaterThanOrEqual(100);

        await held.query(outcome);
        const expected = outcome === 'commit' ? [heldId, ...others] : others;
        await waitFor(() => expected.every((id) => seen.counts.has(id)), `all ${expected.length} events`, WAIT_MS);
        await subscription.caughtUp();
        expect(expected.map((id) => seen.counts.get(id))).toEqual(expected.map(() => 1));
        expect(seen.counts.has(heldId)).toBe(outcome === 'commit');
        expect(seen.events).toHaveLength(expected.length);
      });
    }

    it('leaves permanent position gaps for rolled-back appends, and still delivers later events promptly', async () => {
      const seen = recorder();
      // It polls once an hour: within the test, only a notification can wake it.
      const subscription = await store.subscribe({ name: 'gaps', from: 'end', pollIntervalMs: 3_600_000, handler: seen.handler });
      running.push(subscription);
      const [before] = await appendEach(store, ['before_gap']);
      await waitFor(() => seen.counts.has(before!), 'the event before the gap', WAIT_MS);

      const doomed = await connect();
      for (let round = 0; round < 3; round++) {
        await doomed.query('begin');
        for (let i = 0; i < 5; i++) await appendOn(doomed, 'rolled_back');
        await doomed.query('rollback');
      }
      const [after] = await appendEach(store, ['after_gap']);
      // Long before the hourly poll: the append's notification woke the subscription.
      await waitFor(() => seen.counts.has(after!), 'the event after the gap', WAIT_MS);
      const [first, second] = seen.events.filter((event) => event.type === 'before_gap' || event.type === 'after_gap');
      expect(second!.position - first!.position).toBeGreaterThan(15);
      expect(seen.types()).not.toContain('rolled_back');
    });

    it('is held back by an idle open transaction elsewhere, loses nothing, and `subscriptions` shows the lag meanwhile', async () => {
      const seen = recorder();
      await settled(store);
      const subscription = await store.subscribe({ name: 'idle-blocked', from: 'end', handler: seen.handler });
      running.push(subscription);
      await subscription.caughtUp();

      const idle = await connect();
      await idle.query('begin');
      await idle.query('select pg_current_xact_id()');
      const ids = await appendEach(store, ['blocked_1', 'blocked_2', 'blocked_3', 'blocked_4', 'blocked_5']);
      await runnerReadTwiceSince(store, 'idle-blocked', await serverNow(store), WAIT_MS);
      expect(ids.filter((id) => seen.counts.has(id))).toEqual([]);
      // The lag in seconds is the age of the oldest event not handled: wait until they are a second old.
      await waitFor(async () => {
        const [row] = await store.query<{ old: boolean }>(
          `select clock_timestamp() - min(inserted_at) >= interval '1 second' as old from ${store.schema}.events where event_id = any($1::uuid[])`,
          [ids],
        );
        return row?.old === true;
      }, 'the held-back events to be a second old', WAIT_MS);

      const cli = await runCli(['--database-url', t.url!, '--json', 'subscriptions']);
      expect(cli.exitCode).toBe(0);
      const listed = (JSON.parse(cli.stdout) as { name: string; state: string; lagEvents: number; lagSeconds: number; heldBackEvents: number }[]).find(
        (candidate) => candidate.name === 'idle-blocked',
      )!;
      expect(listed.state).toBe('running');
      expect(listed.lagEvents).toBeGreaterThanOrEqual(5);
      expect(listed.heldBackEvents).toBeGreaterThanOrEqual(5);
      expect(listed.lagSeconds).toBeGreaterThanOrEqual(1);
      const text = await runCli(['--database-url', t.url!, 'subscriptions']);
      expect(text.stdout).toMatch(/idle-blocked\s+subscription\s+running/);
      expect(text.stdout).toContain('held back');

      await idle.query('commit');
      await waitFor(() => ids.every((id) => seen.counts.has(id)), 'the held-back events', WAIT_MS);
      expect(ids.map((id) => seen.counts.get(id))).toEqual([1, 1, 1, 1, 1]);
      await subscription.caughtUp();
      expect((await store.listSubscriptions()).find((candidate) => candidate.name === 'idle-blocked')).toMatchObject({ lagEvents: 0 });
    });
  });
}

subscriptionsAndOpenTransactions(isolatedServer);
// Again as an application role granted writer and subscriber access (resets, skips and resumes
// by an operator role).
subscriptionsAndOpenTransactions(asApplicationRoles(isolatedServer));
