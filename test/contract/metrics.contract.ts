import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, type MetricFamily, prometheusText, type Subscription } from '../../src/index.js';
import { runCli } from '../support/cli.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { usersHandlers, usersReadModelSql } from './fixtures.js';
import { engineLabel, waitFor } from './subscriptions.contract.js';

/** The value of one sample of a family, found by its labels (undefined when there is none). */
function sample(families: MetricFamily[], name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.find((candidate) => candidate.name === name);
  return family?.samples.find((s) => Object.entries(labels).every(([key, value]) => s.labels[key] === value))?.value;
}

export default function metricsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`metrics (${engineLabel(engine)})`, () => {
    let t: TestStore;
    let store: EventStore;
    let failing: Subscription | undefined;

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      const owner = t.owner ?? store;
      await owner.execScript(usersReadModelSql(owner.schema));
      await owner.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
    });
    afterAll(async () => {
      await failing?.stop();
      await t?.dispose();
    });

    it("reports the last position, streams, a failed subscription's lag and state, and each projection's state", async () => {
      const streams = [randomUUID(), randomUUID()];
      for (const stream of streams) await store.append(stream, [{ type: 'user_create', body: { name: 'Ada' } }]);
      const { events } = await store.append(streams[0]!, [{ type: 'metric_poison', body: {} }]);
      failing = await store.subscribe({
        name: 'metric-mailer',
        from: 'start',
        types: ['metric_poison'],
        retry: { maxAttempts: 1, initialDelayMs: 10 },
        handler: () => {
          throw new Error('refused');
        },
      });
      await waitFor(async () => (await store.listSubscriptions()).find((s) => s.name === 'metric-mailer')?.state === 'failed', 'the subscription to fail', 60_000);

      const families = await store.metrics();
      for (const family of families) expect(family.name).toMatch(/^pgevents_[a-z_]+$/);
      expect(sample(families, 'pgevents_info', { engine: store.engine, schema: store.schema })).toBe(1);
      expect(sample(families, 'pgevents_last_position')).toBe(events[0]!.position);
      expect(sample(families, 'pgevents_streams')).toBe(2);
      expect(sample(families, 'pgevents_held_back_events')).toBeGreaterThanOrEqual(0);
      expect(sample(families, 'pgevents_subscription_failed', { subscription: 'metric-mailer' })).toBe(1);
      expect(sample(families, 'pgevents_subscription_lag_events', { subscription: 'metric-mailer' })).toBe(1);
      expect(sample(families, 'pgevents_subscription_failed_attempts', { subscription: 'metric-mailer' })).toBe(1);
      expect(sample(families, 'pgevents_projection_state', { projection: 'users', state: 'live' })).toBe(1);
      expect(sample(families, 'pgevents_projection_rows', { projection: 'users' })).toBe(2);

      const text = prometheusText(families);
      expect(text).toContain('# TYPE pgevents_subscription_failed gauge\n');
      expect(text).toContain('pgevents_subscription_failed{subscription="metric-mailer",kind="subscription"} 1\n');
    });

    it.skipIf(engine.name !== 'server')('prints them once from the CLI, as text or as JSON', async () => {
      const text = await runCli(['--database-url', t.url!, 'metrics']);
      expect(text.exitCode).toBe(0);
      expect(text.stdout).toMatch(/^# HELP pgevents_info /);
      expect(text.stdout).toContain('pgevents_streams 2\n');
      const json = await runCli(['--database-url', t.url!, '--json', 'metrics']);
      expect(json.exitCode).toBe(0);
      const families = JSON.parse(json.stdout) as MetricFamily[];
      expect(sample(families, 'pgevents_streams')).toBe(2);
    });
  });
}
