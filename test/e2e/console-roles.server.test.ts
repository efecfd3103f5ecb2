import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Subscription } from '../../src/index.js';
import { type ConsoleServer, startConsole } from '../../src/ui/index.js';
import { waitFor } from '../contract/subscriptions.contract.js';
import { asApplicationRoles, server, type TestStore } from '../support/engines.js';
import { browserUnavailable, launchBrowser, watchPage } from './browser.js';

// Gap-safe delivery on the shared server waits for every older transaction in the cluster.
const GAP_SAFE_WAIT_MS = 120_000;
const GAP_SAFE_TEST = { timeout: 150_000 };

/**
 * The console's subscription actions with the roles of a deployment: the application (writer +
 * subscriber) runs the subscription; a console opened as the operator skips and resets it, and one
 * opened as the application itself offers neither and is refused them by the server.
 */
describe.skipIf(server.unavailable !== null || browserUnavailable() !== null)('the console with application and operator roles (server)', () => {
  let t: TestStore;
  let browser: Browser;
  let page: Page;
  let watcher: { problems: string[] };
  let subscription: Subscription;
  const consoles: ConsoleServer[] = [];

  const open = async (consoleServer: ConsoleServer, hash: string) => {
    await page.goto('about:blank');
    await page.goto(`${consoleServer.url}${hash}`);
    await page.locator('body[data-ready="true"]').waitFor();
  };
  const mailer = async () => (await t.store.listSubscriptions()).find((item) => item.name === 'mailer');

  beforeAll(async () => {
    t = await asApplicationRoles(server).createStore();
    await t.store.append(randomUUID(), [{ type: 'mail_requested', body: { to: 'ada@example.org', fail: true } }]);
    subscription = await t.store.subscribe({
      name: 'mailer',
      types: ['mail_requested'],
      retry: { maxAttempts: 1, initialDelayMs: 10 },
      handler: (events) => {
        if (events.some((event) => event.body.fail === true)) throw new Error('SMTP refused');
      },
    });
    await waitFor(async () => (await mailer())?.state === 'failed', 'the subscription to fail', GAP_SAFE_WAIT_MS);
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.setDefaultTimeout(15_000);
    watcher = watchPage(page);
  }, GAP_SAFE_WAIT_MS + 30_000);

  afterAll(async () => {
    await subscription?.stop();
    await browser?.close();
    await Promise.all(consoles.map((opened) => opened.close()));
    await t?.dispose();
  });

  it("offers the application role no subscription action, and the server refuses them", async () => {
    const consoleServer = await startConsole(t.store, { port: 0, log: () => undefined });
    consoles.push(consoleServer);
    const session = (await (await fetch(`${consoleServer.url}api/session`)).json()) as {
      csrfToken: string;
      permissions: { subscriptions: boolean };
    };
    expect(session.permissions.subscriptions).toBe(false);
    for (const action of ['skip', 'reset', 'resume']) {
      const refused = await fetch(`${consoleServer.url}api/subscriptions/mailer/${action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-pgevents-csrf': session.csrfToken },
        body: '{}',
      });
      expect(refused.status, action).toBe(403);
    }
    await open(consoleServer, '#/subscriptions');
    const row = page.locator('tr[data-subscription="mailer"][data-state="failed"]');
    await row.waitFor();
    expect(await row.locator('button[data-action="skip"]').isDisabled()).toBe(true);
    expect(await row.locator('button[data-action="reset"]').isDisabled()).toBe(true);
    expect(await row.locator('button[data-action="resume"]').isDisabled()).toBe(true);
    expect((await mailer())?.state).toBe('failed');
  });

  it("lets a console opened as the operator skip the application's failed event and reset its subscription", GAP_SAFE_TEST, async () => {
    const consoleServer = await startConsole(t.operator!, { port: 0, log: () => undefined });
    consoles.push(consoleServer);
    await open(consoleServer, '#/subscriptions');
    const row = page.locator('tr[data-subscription="mailer"]');
    await page.locator('tr[data-subscription="mailer"][data-state="failed"]').waitFor();
    await row.locator('button[data-action="skip"]').click();
    await page.locator('dialog[open] [data-action="confirm"]').click();
    await page.locator('tr[data-subscription="mailer"]:not([data-state="failed"])').waitFor({ timeout: GAP_SAFE_WAIT_MS });
    await subscription.caughtUp();

    await t.store.append(randomUUID(), [{ type: 'mail_requested', body: { to: 'grace@example.org' } }]);
    await row.locator('button[data-action="reset"]').click();
    await page.locator('dialog[open] select[data-reset-to]').selectOption('end');
    await page.locator('dialog[open] [data-action="confirm"]').click();
    await waitFor(async () => (await mailer())?.lagEvents === 0, 'the reset', GAP_SAFE_WAIT_MS);
    expect((await mailer())?.state).toBe('running');
  });

  it('made no request outside the console and raised no error in the page', () => {
    expect(watcher.problems).toEqual([]);
  });
});
