import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, Subscription } from '../../src/index.js';
import { appendEach, engineLabel, isolatedServer, runCli, settled, waitFor } from '../contract/subscriptions.contract.js';
import { asApplicationRoles, type TestEngine, type TestStore } from '../support/engines.js';
import { urlAs } from '../support/roles.js';

/** How long a wait for a state may take on a loaded machine before the test fails: a safety net. */
const WAIT_MS = 60_000;

function tailAndSubscriptionsCli(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`pgevents tail and pgevents subscriptions (${engineLabel(engine)})`, { timeout: 180_000 }, () => {
    let t: TestStore;
    let store: EventStore;
    let cli: (...args: string[]) => ReturnType<typeof runCli>;
    /** Resets, skips and resumes: as the owner, or as the operator role next to an application role. */
    let operatorCli: (...args: string[]) => ReturnType<typeof runCli>;
    const running: Subscription[] = [];

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      cli = (...args) => runCli(['--database-url', t.url!, ...args]);
      const operatorUrl = t.roles ? urlAs(t.url!, t.roles.operator) : t.url!;
      operatorCli = (...args) => runCli(['--database-url', operatorUrl, ...args]);
    });
    afterAll(async () => {
      await Promise.all(running.map((subscription) => subscription.stop()));
      await t?.dispose();
    });

    it('tail --from start prints events as JSON lines with their cursors, in log order, and stops at --limit', async () => {
      const ids = await appendEach(store, ['tail_a', 'tail_b', 'tail_a']);
      const result = await cli('--json', 'tail', '--from', 'start', '--type', 'tail_a', 'tail_b', '--limit', '3');
      expect(result.exitCode).toBe(0);
      const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { cursor: string; eventId: string; type: string });
      expect(lines.map((line) => line.eventId)).toEqual(ids);
      expect(lines.map((line) => line.type)).toEqual(['tail_a', 'tail_b', 'tail_a']);
      for (const line of lines) expect(line.cursor).toMatch(/^\d+-\d+$/);
    });

    it('tail (from the end by default) prints only events appended while it runs', async () => {
      await appendEach(store, ['tail_live']);
      await settled(store);
      const tail = cli('tail', '--type', 'tail_live', '--limit', '1');
      let done = false;
      void tail.finally(() => (done = true));
      // It starts at the end: keep appending until it has printed one.
      await waitFor(async () => {
        if (!done) await appendEach(store, ['tail_live']);
        return done;
      }, 'tail to print a live event', WAIT_MS);
      const result = await tail;
      expect(result.exitCode).toBe(0);
      expect(result.stdout.trim().split('\n')).toHaveLength(1);
      expect(result.stdout).toMatch(/^\d+-\d+ {2}\S+ {2}tail_live {2}[0-9a-f-]{36}@1 {2}\{"type":"tail_live"\}\n$/);
    });

    it('refuses a malformed or unknown tail cursor with a usage error', async () => {
      const malformed = await cli('tail', '--from', 'last-tuesday');
      expect(malformed.exitCode).toBe(2);
      expect(malformed.stderr).toContain('Invalid cursor');
      const unknown = await cli('tail', '--from', '123456789-1');
      expect(unknown.exitCode).toBe(2);
      expect(unknown.stderr).toContain('Unknown cursor: 123456789-1');
    });

    it('lists, resets, skips and resumes subscriptions, and status shows them', async () => {
      let healthy = false;
      let delivered = 0;
      await settled(store);
      const subscription = await store.subscribe({
        name: 'cli-managed',
        from: 'end',
        types: ['cli_event'],
        retry: { maxAttempts: 1 },
        handler: (events) => {
          if (!healthy) throw new Error('handler is broken');
          delivered += events.length;
        },
      });
      running.push(subscription);
      await appendEach(store, ['cli_event']);
      await expect(subscription.caughtUp()).rejects.toMatchObject({ code: 'SUBSCRIPTION_FAILED' });

      const listed = await cli('subscriptions');
      expect(listed.exitCode).toBe(0);
      expect(listed.stdout).toMatch(/cli-managed\s+subscription\s+failed\s+\d+-\d+\s+1\s/);
      expect(listed.stdout).toContain('cli_event @ position');
      expect(listed.stdout).toContain('handler is broken');
      const status = await cli('status');
      expect(status.stdout).toContain('subscriptions');
      expect(status.stdout).toContain('warning: subscription cli-managed failed at position');

      healthy = true;
      const resumed = await operatorCli('--json', 'subscriptions', 'resume', 'cli-managed');
      expect(resumed.exitCode).toBe(0);
      expect(JSON.parse(resumed.stdout)).toMatchObject({ name: 'cli-managed', state: 'running', attempts: 0 });
      await subscription.caughtUp();

      const notFailed = await operatorCli('subscriptions', 'skip', 'cli-managed');
      expect(notFailed.exitCode).toBe(1);
      expect(notFailed.stderr).toContain('has not failed: there is no event to skip');

      expect(delivered).toBe(1);
      const reset = await operatorCli('--json', 'subscriptions', 'reset', 'cli-managed', '--to', 'start');
      expect(reset.exitCode).toBe(0);
      expect(JSON.parse(reset.stdout)).toMatchObject({ name: 'cli-managed', kind: 'subscription' });
      // The running subscription goes back to the start and delivers the event again.
      await waitFor(() => delivered === 2, 'the event delivered again after the reset', WAIT_MS);
      const toEnd = await operatorCli('subscriptions', 'reset', 'cli-managed', '--to', 'end');
      expect(toEnd.exitCode).toBe(0);
      expect(toEnd.stdout).toMatch(/^reset cli-managed: checkpoint \d+-\d+, state running/);

      const unknown = await operatorCli('subscriptions', 'reset', 'no-such-subscription');
      expect(unknown.exitCode).toBe(1);
      expect(unknown.stderr).toContain('Unknown subscription: no-such-subscription');
      expect(unknown.stderr).toContain('hint: List the subscriptions with `pgevents subscriptions`.');
    });
  });
}

tailAndSubscriptionsCli(isolatedServer);
// Again as an application role granted writer and subscriber access (resets, skips and resumes
// by an operator role).
tailAndSubscriptionsCli(asApplicationRoles(isolatedServer));
