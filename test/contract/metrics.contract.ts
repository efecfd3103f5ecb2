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
      // A process that appended nothing: the append families are there, empty.
      expect(text.stdout).toContain('pgevents_append_duration_seconds_count 0\n');
      const json = await runCli(['--database-url', t.url!, '--json', 'metrics']);
      expect(json.exitCode).toBe(0);
      const families = JSON.parse(json.stdout) as MetricFamily[];
      expect(sample(families, 'pgevents_streams')).toBe(2);
    });

    it("counts this store object's appends by type and their latency (a histogram), in text a scraper parses", async () => {
      const stream = randomUUID();
      const histogramCount = (families: MetricFamily[]) =>
        families.find((f) => f.name === 'pgevents_append_duration_seconds')!.samples.find((s) => s.suffix === '_count')!.value;
      const before = await store.metrics();
      expect(sample(before, 'pgevents_events_appended_total', { type: 'metric_counted' })).toBeUndefined();
      await store.append(stream, [{ type: 'metric_counted', body: {} }, { type: 'metric_counted', body: {} }]);
      await store.append(stream, [{ type: 'metric_counted', body: {} }, { type: 'metric_other', body: {} }]);
      const families = await store.metrics();
      expect(sample(families, 'pgevents_events_appended_total', { type: 'metric_counted' })).toBe(3);
      expect(sample(families, 'pgevents_events_appended_total', { type: 'metric_other' })).toBe(1);
      expect(histogramCount(families) - histogramCount(before)).toBe(2);
      const histogram = families.find((f) => f.name === 'pgevents_append_duration_seconds')!;
      expect(histogram.type).toBe('histogram');
      const buckets = histogram.samples.filter((s) => s.suffix === '_bucket');
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
      expect(buckets.at(-1)).toEqual({ suffix: '_bucket', labels: { le: '+Inf' }, value: histogramCount(families) });
      expect(histogram.samples.find((s) => s.suffix === '_sum')!.value).toBeGreaterThan(0);

      // Every sample line belongs to a family declared by # TYPE (histograms: _bucket, _sum, _count).
      const text = prometheusText(families);
      const declared = new Map([...text.matchAll(/^# TYPE (\S+) (gauge|counter|histogram)$/gm)].map((m) => [m[1]!, m[2]!]));
      for (const line of text.trimEnd().split('\n').filter((l) => !l.startsWith('#'))) {
        const match = /^([a-z_]+?)(_bucket|_sum|_count)?(\{[a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
        expect(match, line).not.toBeNull();
        const [, name, suffix] = match!;
        expect(declared.get(suffix && declared.get(name!) === 'histogram' ? name! : `${name}${suffix ?? ''}`), line).toBeDefined();
      }
      expect(text).toContain('# TYPE pgevents_append_duration_seconds histogram\n');
      expect(text).toContain('pgevents_events_appended_total{type="metric_counted"} 3\n');
      expect(text).toMatch(/^pgevents_append_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    });
  });
}
