import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, openEventStore } from '../../src/index.js';
import { type ConsoleServer, startConsole } from '../../src/ui/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { browserUnavailable, keepScreenshot, launchBrowser, watchPage } from './browser.js';

const usersSql = readFileSync(new URL('../../examples/users.sql', import.meta.url), 'utf8');
const XSS_SCRIPT = '<script>window.__pgeventsXss = 1</script>';
const XSS_IMG = '<img src=x onerror=window.__pgeventsXss=2>';
const BULK = 1200;

async function seed(store: EventStore) {
  await store.execScript(usersSql);
  // Users created over the last hour (more of them recently), so that the chart has a shape and a
  // rebuild has enough events to show progress.
  await store.execScript(`
    insert into events (type, uuid, body, inserted_at)
    select 'user_create', gen_random_uuid(), jsonb_build_object('name', 'User ' || g, 'plan', case when g % 3 = 0 then 'pro' else 'free' end),
           statement_timestamp() - interval '59 minutes' * (1 - power(g::float / ${BULK}, 0.6))
      from generate_series(1, ${BULK}) g`);
  await store.defineMaterializedView({
    name: 'users_view',
    query: `select distinct on (uuid) uuid, body ->> 'name' as name, inserted_at from ${store.schema}.events where type = 'user_update' order by uuid, id desc`,
    uniqueColumns: ['uuid'],
    schema: 'public',
  });
  const ada = randomUUID();
  await store.append(ada, [{ type: 'user_create', body: { name: 'Ada', languages: ['Analytical Engine'] }, metadata: { correlationId: randomUUID(), by: 'e2e' } }]);
  await store.append(ada, [{ type: 'user_update', body: { name: 'Ada Lovelace', address: { city: 'London', street: 'St James\'s Square' } } }]);
  const grace = randomUUID();
  await store.append(grace, [{ type: 'user_create', body: { name: 'Grace' } }]);
  await store.append(ada, [{ type: 'user_update', body: { name: 'Ada King', title: 'Countess of Lovelace' } }]);
  const xss = randomUUID();
  await store.append(xss, [{ type: 'user_note', body: { note: XSS_SCRIPT, html: XSS_IMG }, metadata: { source: '<b>bold</b>' } }]);
  // A declared type at version 2, with a validation and an upcaster from version 1.
  await store.execScript(`create function public.user_renamed_v1_to_v2(body jsonb) returns jsonb language sql immutable as $$ select body $$`);
  await store.defineUpcaster('user_renamed', 1, 'public.user_renamed_v1_to_v2');
  await store.defineEventType('user_renamed', { version: 2, requiredFields: ['first_name', 'last_name'], description: 'a user renamed' });
  return { ada, grace, xss };
}

// Gap-safe reads (readAll, the live feed) show an event only once every transaction that began
// before it has ended, anywhere in the cluster: on a shared server another database's long
// transaction holds them back for as long as it runs. Tests that wait for them wait long.
const GAP_SAFE_WAIT_MS = 120_000;
const GAP_SAFE_TEST = { timeout: 240_000 };
// What the page does (render, run a job, reconnect) is waited for as a state; these limits are
// safety nets for a machine loaded by other work, never what makes a test pass.
const PAGE_WAIT_MS = 60_000;
const JOB_WAIT_MS = 120_000;

async function waitUntil<T>(check: () => Promise<T | undefined>, what: string, timeout = GAP_SAFE_WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Waits until the locator's text satisfies the check. */
async function waitForText(page: Page, selector: string, check: (text: string) => boolean, what: string, timeout = PAGE_WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    last = (await page.locator(selector).first().textContent().catch(() => null)) ?? '';
    if (check(last)) return last;
    await page.waitForTimeout(50);
  }
  throw new Error(`timed out waiting for ${what}; last text of ${selector}: ${JSON.stringify(last.slice(0, 300))}`);
}

export default function consoleSuite(engine: TestEngine): void {
  const browserProblem = browserUnavailable();
  describe.skipIf(engine.unavailable !== null || browserProblem !== null)(`the console in a browser (${engine.name})`, { timeout: 180_000 }, () => {
    let t: TestStore;
    let store: EventStore;
    let server: ConsoleServer;
    let browser: Browser;
    let page: Page;
    let watcher: { problems: string[] };
    let streams: Awaited<ReturnType<typeof seed>>;

    // A fresh page load each time (not just a hash change), as a person opening a link would.
    const open = async (hash: string) => {
      await page.goto('about:blank');
      await page.goto(`${server.url}${hash}`);
      await page.locator('body[data-ready="true"]').waitFor();
    };

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      streams = await seed(store);
      server = await startConsole(store, { port: 0, pollMs: 100, log: () => undefined });
      browser = await launchBrowser();
      page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
      page.setDefaultTimeout(PAGE_WAIT_MS);
      watcher = watchPage(page);
    }, 240_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      await t?.dispose();
    });

    it('shows the overview: counts, appends per minute and what needs attention', async () => {
      await open('#/');
      const events = await waitForText(page, '[data-stat="Events"]', (text) => /\d/.test(text), 'the event count');
      expect(Number(events.replace(/\D/g, ''))).toBe(BULK + 5);
      await waitForText(page, '.attention', (text) => text.includes('user_note'), 'the unhandled type in "needs attention"');
      expect(await page.locator('svg.chart rect.bar:not(.zero)').count()).toBeGreaterThan(10);
      const declared = await waitForText(page, '[data-declared-type="user_renamed"]', (text) => text.includes('v2'), 'the declared type');
      expect(declared).toContain('requires first_name, last_name');
      expect(declared).toContain('v1 → user_renamed v2 (public.user_renamed_v1_to_v2(jsonb))');
      await keepScreenshot(page, engine.name, 'overview');
    });

    it('searches streams by the first digits of a uuid from the keyboard and opens one', async () => {
      await open('#/streams');
      await page.locator('[data-results]').waitFor();
      await keepScreenshot(page, engine.name, 'streams');
      await page.locator('body').click({ position: { x: 5, y: 5 } });
      await page.keyboard.press('/');
      await page.keyboard.type(streams.ada.slice(0, 8));
      await page.keyboard.press('Enter');
      // The search's own results (the page before it listed ada too): only ada has these digits.
      // A function, not a string: Playwright polls a string with eval, which the console's CSP
      // (script-src 'self') refuses whenever the first check is not already true.
      await page.waitForFunction(
        (ada) => {
          const page = globalThis as unknown as {
            location: { hash: string };
            document: { querySelectorAll(selector: string): ArrayLike<{ getAttribute(name: string): string | null }> };
          };
          const listed = Array.from(page.document.querySelectorAll('tr[data-stream]'), (row) => row.getAttribute('data-stream'));
          return page.location.hash.includes('q=') && listed.join() === ada;
        },
        streams.ada,
      );
      await page.keyboard.press('j');
      await page.locator(`tr.selected[data-stream="${streams.ada}"]`).waitFor();
      await page.keyboard.press('Enter');
      await waitForText(page, '[data-stream-id]', (text) => text === streams.ada, 'the stream page');
      expect(await page.locator('article.event').evaluateAll((cards) => cards.map((card) => card.getAttribute('data-version')))).toEqual(['1', '2', '3']);
      expect(await page.locator('article.event .event-type').allTextContents()).toEqual(['user_create', 'user_update', 'user_update']);
      const first = page.locator('article.event').first();
      expect(await first.locator('[data-body]').textContent()).toContain('"Analytical Engine"');
      expect(await first.locator('[data-metadata]').textContent()).toContain('"e2e"');
      expect(await page.locator('[data-stream-state]').textContent()).toBe('live');
      await keepScreenshot(page, engine.name, 'stream');
    });

    it("shows a stream's lifecycle state: archived (its events still shown) and tombstoned", async () => {
      const archived = randomUUID();
      await store.append(archived, [{ type: 'user_create', body: { name: 'Archived' } }]);
      await store.archiveStream(archived, { reason: 'e2e' });
      await open(`#/streams/${archived}`);
      expect(await waitForText(page, '[data-stream-state]', (text) => text !== '', 'the state')).toBe('archived');
      expect(await page.locator('article.event').count()).toBe(1);
      await store.unarchiveStream(archived, { reason: 'e2e' });
      await store.tombstoneStream(archived, { reason: 'e2e' });
      await open(`#/streams/${archived}`);
      expect(await waitForText(page, '[data-stream-state]', (text) => text !== '', 'the state')).toBe('tombstoned');
    });

    it("shows the erasure audit: the erasures page, and on a forgotten stream's page who erased it, when, why and the keys", async () => {
      await store.declarePersonalData({ type: 'user_contact', fields: ['email'], subject: 'stream' });
      const person = randomUUID();
      const kept = randomUUID();
      await store.append(person, [{ type: 'user_contact', body: { email: 'erase.me@example.org', plan: 'pro' } }]);
      await store.append(kept, [{ type: 'user_contact', body: { email: 'keep.me@example.org' } }]);
      const result = await store.forget(person, { reason: 'erasure request #e2e' });
      const [erasure] = await store.listErasures({ stream: person });
      expect(erasure).toMatchObject({ keys: result.keys, reason: 'erasure request #e2e', forgottenBy: result.forgottenBy });

      await open(`#/streams/${person}`);
      const row = page.locator(`[data-stream-erasures] tr[data-erasure="${erasure!.position}"]`);
      await row.waitFor();
      expect(await row.locator('[data-erasure-reason]').textContent()).toBe('erasure request #e2e');
      expect(await row.locator('[data-erasure-by]').textContent()).toBe(result.forgottenBy);
      expect(await row.locator('[data-erasure-keys]').textContent()).toBe(result.keys.join(', '));
      expect(await page.locator('article.event [data-body]').first().textContent()).toContain('erased');
      expect(await page.content()).not.toContain('erase.me@example.org');
      await keepScreenshot(page, engine.name, 'stream-erased');

      // Another subject's stream: nothing erased, no section.
      await open(`#/streams/${kept}`);
      expect(await waitForText(page, 'article.event [data-body]', (text) => text !== '', 'the event')).toContain('keep.me@example.org');
      expect(await page.locator('[data-stream-erasures]').count()).toBe(0);

      await open('#/erasures');
      const listed = page.locator(`[data-erasures] tr[data-erasure="${erasure!.position}"]`);
      await listed.waitFor();
      expect(await listed.locator('[data-erasure-reason]').textContent()).toBe('erasure request #e2e');
      expect(await page.locator('[data-nav="erasures"][aria-current="page"]').count()).toBe(1);
      expect(await page.content()).not.toContain('erase.me@example.org');
      await keepScreenshot(page, engine.name, 'erasures');
    });

    it('filters streams by event type', async () => {
      await open(`#/streams?type=user_note`);
      await page.locator('[data-results]').waitFor();
      expect(await page.locator('tr[data-stream]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-stream')))).toEqual([streams.xss]);
    });

    it('steps from an event to the next and previous one in the global order', GAP_SAFE_TEST, async () => {
      const [first] = await store.readStream(streams.ada, { limit: 1 });
      // readAll (and so "next") shows only events below the server-wide xmin: wait for it.
      const next = await waitUntil(async () => {
        const read = await store.readAll({ after: `${first!.transactionId}-${first!.position}`, limit: 1 });
        return read.events.length > 0 ? read : undefined;
      }, 'the next event to be readable');
      await open(`#/streams/${streams.ada}`);
      await page.locator(`article[data-position="${first!.position}"] a[data-log="next"]`).click();
      await page.waitForURL(`**#/events/${next.events[0]!.position}`);
      await waitForText(page, 'h1', (text) => text.includes(next.events[0]!.type), 'the next event');
      await page.keyboard.press('[');
      await page.waitForURL(`**#/events/${first!.position}`);
      await waitForText(page, 'h1', (text) => text.includes(`#${first!.position}`), 'the previous event');
      await keepScreenshot(page, engine.name, 'event');
    });

    it('shows the trace id of the append that stored an event, and its type version', async () => {
      const traced = await store.append(randomUUID(), [
        { type: 'user_note', body: { note: 'traced' }, metadata: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } },
      ]);
      await open(`#/events/${traced.events[0]!.position}`);
      const traceId = await waitForText(page, '[data-trace-id]', (text) => text.length > 0, 'the trace id');
      expect(traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(await page.locator('dl.kv').textContent()).toContain('v1');
      await open(`#/events/${(await store.readStream(streams.ada, { limit: 1 }))[0]!.position}`);
      await waitForText(page, 'dl.kv', (text) => text.includes('none recorded'), 'no trace on an untraced event');
    });

    it('shows the metrics Prometheus scrapes on a page of their own', async () => {
      await open('#/metrics');
      const streamsRow = await waitForText(page, '[data-metric="pgevents_streams"]', (text) => text.includes('gauge'), 'the streams metric');
      expect(streamsRow).toContain('pgevents_streams');
      expect(await page.locator('[data-sample="pgevents_streams"]').count()).toBeGreaterThan(0);
      await keepScreenshot(page, engine.name, 'metrics');
    });

    it('renders an event body that holds <script> as inert text', async () => {
      await open(`#/streams/${streams.xss}`);
      const body = await waitForText(page, 'article.event [data-body]', (text) => text.includes('script'), 'the body');
      expect(body).toContain(XSS_SCRIPT);
      expect(body).toContain(XSS_IMG);
      expect(await page.locator('article.event [data-metadata]').textContent()).toContain('<b>bold</b>');
      expect(await page.locator('main script, main img, main b').count()).toBe(0);
      expect(await page.evaluate('typeof window.__pgeventsXss')).toBe('undefined');
      await keepScreenshot(page, engine.name, 'xss');
    });

    it('shows appended events in the live feed, holds them while paused, and resumes after a restart without losing one', GAP_SAFE_TEST, async () => {
      await open('#/live');
      await page.locator('[data-live-status="connected"]').waitFor();
      const stream = randomUUID();
      const live = await store.append(stream, [{ type: 'user_create', body: { name: 'Live' } }]);
      await page.locator(`li[data-position="${live.events[0]!.position}"]`).waitFor({ timeout: GAP_SAFE_WAIT_MS });

      await page.keyboard.press('p');
      const held = await store.append(stream, [{ type: 'user_update', body: { name: 'Held' } }]);
      await waitForText(page, '[data-pause]', (text) => text.includes('1 new'), 'the paused feed to hold the event', GAP_SAFE_WAIT_MS);
      expect(await page.locator(`li[data-position="${held.events[0]!.position}"]`).count()).toBe(0);
      await page.locator('[data-pause]').click();
      await page.locator(`li[data-position="${held.events[0]!.position}"]`).waitFor();

      // The console goes away; an event is appended meanwhile; the feed reconnects from its cursor.
      await server.close();
      const meanwhile = await store.append(stream, [{ type: 'user_update', body: { name: 'While the console was down' } }]);
      await page.locator('[data-live-status="reconnecting"]').waitFor();
      server = await startConsole(store, { port: server.port, pollMs: 100, log: () => undefined });
      await page.locator(`li[data-position="${meanwhile.events[0]!.position}"]`).waitFor({ timeout: GAP_SAFE_WAIT_MS });
      await page.locator('[data-live-status="connected"]').waitFor();
      const after = await store.append(stream, [{ type: 'user_update', body: { name: 'After' } }]);
      await page.locator(`li[data-position="${after.events[0]!.position}"]`).waitFor({ timeout: GAP_SAFE_WAIT_MS });
      const positions = await page.locator('li[data-position]').evaluateAll((items) => items.map((item) => item.getAttribute('data-position')));
      expect(new Set(positions).size).toBe(positions.length);

      await page.locator('[data-filter]').selectOption('user_create');
      expect(await page.locator(`li[data-position="${after.events[0]!.position}"]`).isHidden()).toBe(true);
      expect(await page.locator(`li[data-position="${live.events[0]!.position}"]`).isVisible()).toBe(true);
      await page.locator('[data-filter]').selectOption('');
      await keepScreenshot(page, engine.name, 'live');
    });

    it('rebuilds a projection from the projections page and shows it finish', async () => {
      const before = await store.query('select uuid, name, inserted_at, updated_at from users order by uuid');
      const [handled] = await store.query<{ n: number }>(
        `select count(*)::int as n from ${store.schema}.events where type in ('user_create', 'user_update')`,
      );
      await open('#/projections');
      const card = page.locator('[data-projection="users"]');
      await card.locator('button[data-action="rebuild"]').click();
      const dialog = page.locator('dialog[open]');
      await waitForText(page, 'dialog[open]', (text) => text.includes('Rebuild users?'), 'the confirmation');
      await dialog.locator('[data-action="confirm"]').click();
      await card.locator('[data-job-state="succeeded"]').waitFor({ timeout: JOB_WAIT_MS });
      const status = await card.locator('[data-job-status]').textContent();
      expect(status).toMatch(/Rebuild finished: [\d,]+ events/);
      expect(Number(/finished: ([\d,]+)/.exec(status ?? '')?.[1]?.replace(/,/g, ''))).toBe(handled!.n);
      expect(await store.query('select uuid, name, inserted_at, updated_at from users order by uuid')).toEqual(before);
      await page.locator('[data-projection="users"][data-state="live"]').waitFor();
      await keepScreenshot(page, engine.name, 'projections');
    });

    it('cancels a rebuild left unfinished after a confirmation: its shadow tables are dropped and the live ones stay', async () => {
      const before = await store.query('select uuid, name from users order by uuid');
      const [started] = await store.query<{ shadow_schema: string }>(`select * from ${store.schema}.rebuild_start('users', false)`);
      const shadow = started!.shadow_schema;
      expect(await store.query('select 1 from pg_namespace where nspname = $1', [shadow])).toHaveLength(1);
      await open('#/projections');
      const card = page.locator('[data-projection="users"]');
      await card.locator('button[data-action="cancel-rebuild"]').waitFor({ timeout: JOB_WAIT_MS });
      expect(await card.locator('button[data-action="rebuild"]').isDisabled()).toBe(true);
      await card.locator('button[data-action="cancel-rebuild"]').click();
      await waitForText(page, 'dialog[open]', (text) => text.includes('Cancel the rebuild of users?'), 'the confirmation');
      await page.locator('dialog[open] [data-action="confirm"]').click();
      await card.locator('button[data-action="cancel-rebuild"]').waitFor({ state: 'detached', timeout: JOB_WAIT_MS });
      expect(await store.query('select 1 from pg_namespace where nspname = $1', [shadow])).toEqual([]);
      expect((await store.rebuildProgress('users')).filter((progress) => progress.phase !== 'done')).toEqual([]);
      expect(await store.query('select uuid, name from users order by uuid')).toEqual(before);
      const session = (await (await fetch(`${server.url}api/session`)).json()) as { csrfToken: string };
      const again = await fetch(`${server.url}api/projections/users/cancel-rebuild`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-pgevents-csrf': session.csrfToken },
        body: '{}',
      });
      expect(again.status).toBe(409);
    });

    it('verifies a projection against a rebuild and reports that its tables are equal', async () => {
      await open('#/projections');
      const card = page.locator('[data-projection="users"]');
      await card.locator('button[data-action="verify"]').click();
      await page.locator('dialog[open] [data-action="confirm"]').click();
      const status = await waitForText(
        page,
        '[data-projection="users"] [data-job-status]',
        (text) => /^(Verified|Verify found|Verify failed)/.test(text),
        'the verify to finish',
        JOB_WAIT_MS,
      );
      expect(status).toMatch(/^Verified: the tables equal a rebuild/);
    });

    it('refreshes a materialized view after a confirmation', async () => {
      await open('#/projections');
      const card = page.locator('[data-projection="users_view"]');
      await page.locator('[data-projection="users_view"][data-state="stale"]').waitFor();
      await card.locator('button[data-action="refresh"]').click();
      await page.locator('dialog[open] [data-action="confirm"]').click();
      await page.locator('[data-projection="users_view"][data-state="fresh"]').waitFor({ timeout: JOB_WAIT_MS });
    });

    it('previews the rows of a read model, a page at a time', async () => {
      await open('#/projections/users');
      await page.locator('table[data-rows] tbody tr').first().waitFor();
      expect(await page.locator('table[data-rows] tbody tr').count()).toBe(25);
      expect(await page.locator('table[data-rows] thead th').allTextContents()).toEqual(
        expect.arrayContaining([expect.stringContaining('uuid'), expect.stringContaining('name')]),
      );
      const firstCell = await page.locator('table[data-rows] tbody tr td').first().textContent();
      await page.locator('[data-preview] .pager button', { hasText: 'Next' }).click();
      await waitForText(page, 'table[data-rows] tbody tr td', (text) => text !== firstCell, 'the second page');
      await page.evaluate('window.scrollTo(0, 0)');
      await keepScreenshot(page, engine.name, 'projection');
    });

    it('shows a failed subscription with its error as text, and skips the event after a confirmation', GAP_SAFE_TEST, async () => {
      const stream = randomUUID();
      await store.append(stream, [{ type: 'mail_requested', body: { to: 'ada@example.org', fail: true } }]);
      const subscription = await store.subscribe({
        name: 'mailer',
        from: 'start',
        types: ['mail_requested'],
        retry: { maxAttempts: 1, initialDelayMs: 10 },
        handler: (events) => {
          if (events.some((event) => event.body.fail === true)) throw new Error('SMTP refused <b>ada</b>');
        },
      });
      try {
        await waitUntil(async () => ((await store.listSubscriptions()).find((item) => item.name === 'mailer')?.state === 'failed' ? true : undefined), 'the subscription to fail');
        await open('#/subscriptions');
        const row = page.locator('tr[data-subscription="mailer"]');
        await page.locator('tr[data-subscription="mailer"][data-state="failed"]').waitFor({ timeout: GAP_SAFE_WAIT_MS });
        expect(await row.textContent()).toContain('SMTP refused <b>ada</b>');
        expect(await row.locator('b').count()).toBe(0);
        await keepScreenshot(page, engine.name, 'subscriptions');
        await row.locator('button[data-action="skip"]').click();
        await page.locator('dialog[open] [data-action="confirm"]').click();
        await page.locator('tr[data-subscription="mailer"]:not([data-state="failed"])').waitFor({ timeout: GAP_SAFE_WAIT_MS });
        await row.locator('button[data-action="reset"]').click();
        await page.locator('dialog[open] select[data-reset-to]').selectOption('end');
        await page.locator('dialog[open] [data-action="confirm"]').click();
        await waitUntil(async () => ((await store.listSubscriptions()).find((item) => item.name === 'mailer')?.lagEvents === 0 ? true : undefined), 'the reset');
      } finally {
        await subscription.stop();
      }
    });

    it('resumes a failed subscription after a confirmation: its runner delivers the failed event again', GAP_SAFE_TEST, async () => {
      await store.append(randomUUID(), [{ type: 'mail_retried', body: { to: 'grace@example.org' } }]);
      let attempts = 0;
      const subscription = await store.subscribe({
        name: 'retrier',
        from: 'start',
        types: ['mail_retried'],
        retry: { maxAttempts: 1, initialDelayMs: 10 },
        handler: () => {
          attempts += 1;
          if (attempts === 1) throw new Error('SMTP timed out');
        },
      });
      try {
        await waitUntil(async () => ((await store.listSubscriptions()).find((item) => item.name === 'retrier')?.state === 'failed' ? true : undefined), 'the subscription to fail');
        await open('#/subscriptions');
        const row = page.locator('tr[data-subscription="retrier"]');
        await page.locator('tr[data-subscription="retrier"][data-state="failed"]').waitFor({ timeout: GAP_SAFE_WAIT_MS });
        await row.locator('button[data-action="resume"]').click();
        expect(await page.locator('dialog[open]').textContent()).toContain('Retries event');
        await page.locator('dialog[open] [data-action="confirm"]').click();
        await page.locator('tr[data-subscription="retrier"]:not([data-state="failed"])').waitFor({ timeout: GAP_SAFE_WAIT_MS });
        await subscription.caughtUp();
        expect(attempts).toBe(2);
        expect(await row.locator('button[data-action="resume"]').isDisabled()).toBe(true);
      } finally {
        await subscription.stop();
      }
    });

    it('serves the store\'s metrics at /metrics in Prometheus\' text format', async () => {
      const response = await fetch(`${server.url}metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const text = await response.text();
      const [last] = await store.query<{ id: unknown }>(`select max(id) as id from ${store.schema}.events`);
      expect(text).toContain(`pgevents_last_position ${Number(last!.id)}\n`);
      expect(text).toMatch(/^pgevents_projection_state\{projection="users",kind="trigger",state="[a-z_]+"\} 1$/m);
      for (const line of text.trimEnd().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) pgevents_[a-z_]+ .+|pgevents_[a-z_]+(\{.*\})? (-?[0-9.e+]+|NaN|[+-]Inf))$/);
    });

    it('refuses every request without the token when started with one', async () => {
      const token = randomBytes(18).toString('base64url');
      const guarded = await startConsole(store, { port: 0, token, log: () => undefined });
      const other = await browser.newPage();
      try {
        const refused = await other.goto(guarded.url);
        expect(refused?.status()).toBe(401);
        expect(await other.locator('h1').textContent()).toContain('access token');
        for (const path of ['api/session', 'api/overview', 'js/main.js', `api/streams/${streams.ada}`, 'metrics']) {
          expect((await fetch(`${guarded.url}${path}`)).status).toBe(401);
        }
        const scraped = await fetch(`${guarded.url}metrics`, { headers: { authorization: `Bearer ${token}` } });
        expect(scraped.status).toBe(200);
        expect(await scraped.text()).toContain('# TYPE pgevents_last_position gauge');
        const wrong = await fetch(`${guarded.url}api/session`, { headers: { 'x-pgevents-token': `${token}x` } });
        expect(wrong.status).toBe(401);
        const right = await fetch(`${guarded.url}api/session`, { headers: { 'x-pgevents-token': token } });
        expect(right.status).toBe(200);
        await other.goto(guarded.openUrl);
        await other.locator('body[data-ready="true"]').waitFor();
        expect(other.url()).not.toContain('token=');
        await keepScreenshot(other, engine.name, 'token-refused');
      } finally {
        await other.close();
        await guarded.close();
      }
    });

    if (engine.name === 'server') {
      it('disables the actions for a reader role, and the server refuses them', async () => {
        const role = `pgevents_ui_reader_${randomBytes(4).toString('hex')}`;
        await store.query(`create role ${role} login`);
        await store.grant({ readers: [role] });
        const url = new URL(t.url!);
        url.username = role;
        url.password = '';
        const reader = await openEventStore({ url: url.toString(), schema: store.schema });
        const readOnly = await startConsole(reader, { port: 0, log: () => undefined });
        try {
          const session = (await (await fetch(`${readOnly.url}api/session`)).json()) as { readOnly: boolean; csrfToken: string };
          expect(session.readOnly).toBe(true);
          const refused = await fetch(`${readOnly.url}api/projections/users/rebuild`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-pgevents-csrf': session.csrfToken },
            body: '{}',
          });
          expect(refused.status).toBe(403);
          expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('READ_ONLY');
          await page.goto(`${readOnly.url}#/projections`);
          await page.locator('[data-projection="users"] button[data-action="rebuild"]').waitFor();
          expect(await page.locator('[data-projection="users"] button[data-action="rebuild"]').isDisabled()).toBe(true);
          expect(await page.locator('[data-projection="users_view"] button[data-action="refresh"]').isDisabled()).toBe(true);
          expect(await page.locator('.sidebar').textContent()).toContain('read-only');
          expect(await page.locator('[data-read-only]').textContent()).toContain(`Connected as ${role}`);
          await keepScreenshot(page, engine.name, 'read-only');
        } finally {
          await readOnly.close();
          await reader.close();
          await store.query(`drop owned by ${role}`);
          await store.query(`drop role ${role}`);
        }
      });
    }

    if (engine.name === 'server') {
      it('says when committed events are held back by an open transaction, and shows them when it ends', GAP_SAFE_TEST, async () => {
        const blocker = new pg.Client({ connectionString: t.url! });
        await blocker.connect();
        try {
          await blocker.query('begin');
          await blocker.query('select pg_current_xact_id()');
          await open('#/live');
          await page.locator('[data-live-status="connected"]').waitFor();
          const held = await store.append(randomUUID(), [{ type: 'user_create', body: { name: 'Held back' } }]);
          await waitForText(page, '[data-held]', (text) => /held back by an open transaction/.test(text), 'the held-back note');
          expect(await page.locator(`li[data-position="${held.events[0]!.position}"]`).count()).toBe(0);
          await blocker.query('commit');
          await page.locator(`li[data-position="${held.events[0]!.position}"]`).waitFor({ timeout: GAP_SAFE_WAIT_MS });
        } finally {
          await blocker.end();
        }
      });
    }

    it('made no request outside the console and raised no error in the page', () => {
      expect(watcher.problems).toEqual([]);
    });
  });
}
