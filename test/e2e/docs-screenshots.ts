// Takes the console screenshots in docs/images from a seeded embedded store:
//   node --import tsx test/e2e/docs-screenshots.ts
// (needs Chromium at /usr/bin/chromium, like the e2e tests).
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { openEventStore } from '../../src/index.js';
import { startConsole } from '../../src/ui/index.js';
import { launchBrowser } from './browser.js';

const out = new URL('../../docs/images/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });

const pglite = await PGlite.create();
const store = await openEventStore({ pglite, migrate: true });
await store.execScript(readFileSync(new URL('../../examples/users.sql', import.meta.url), 'utf8'));
// A user base that grew over the last hour, a few renames, and an event type nobody handles.
await store.execScript(`
  insert into events (type, uuid, body, inserted_at)
  select 'user_create', gen_random_uuid(), jsonb_build_object('name', 'User ' || g),
         statement_timestamp() - interval '59 minutes' * (1 - power(g::float / 1800, 0.55))
             + interval '40 seconds' * sin(g)
    from generate_series(1, 1800) g;
  insert into events (type, uuid, body, inserted_at)
  select 'user_update', e.uuid, jsonb_build_object('name', (e.body ->> 'name') || ' (renamed)'), least(e.inserted_at + interval '30 seconds', statement_timestamp())
    from events e where e.type = 'user_create' and e.id % 7 = 0;`);
await store.defineMaterializedView({
  name: 'users_view',
  query: `select distinct on (uuid) uuid, body ->> 'name' as name, inserted_at from ${store.schema}.events where type = 'user_update' order by uuid, id desc`,
  uniqueColumns: ['uuid'],
  schema: 'public',
});
const ada = randomUUID();
const correlationId = randomUUID();
await store.append(ada, [
  { type: 'user_create', body: { name: 'Ada', email: 'ada@example.org', languages: ['Analytical Engine'] }, metadata: { correlationId, source: 'signup-form' } },
]);
await store.append(ada, [
  { type: 'user_update', body: { name: 'Ada Lovelace', address: { city: 'London', street: "St James's Square" } }, metadata: { correlationId } },
]);
await store.append(ada, [{ type: 'user_email_verified', body: { email: 'ada@example.org', verifiedAt: new Date().toISOString() } }]);
await store.append(ada, [{ type: 'user_update', body: { name: 'Ada King', title: 'Countess of Lovelace' }, metadata: { by: 'support' } }]);

// Two subscriptions: one caught up, one stopped at an event its handler refuses.
await store.append(ada, [{ type: 'invoice_requested', body: { customer: ada, total: 42 } }]);
const mailer = await store.subscribe({ name: 'welcome-mailer', from: 'start', types: ['user_create'], handler: () => undefined });
const billing = await store.subscribe({
  name: 'billing-sync',
  from: 'start',
  types: ['invoice_requested'],
  retry: { maxAttempts: 2, initialDelayMs: 10 },
  handler: () => {
    throw new Error('billing API answered 503 Service Unavailable');
  },
});
for (let i = 0; i < 200; i += 1) {
  const states = (await store.listSubscriptions()).map((subscription) => subscription.state);
  if (states.includes('failed')) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}

const server = await startConsole(store, { port: 0, log: () => undefined });
const browser = await launchBrowser();
try {
  for (const [width, suffix] of [
    [1440, ''],
    [1920, '-wide'],
  ] as const) {
    const page = await browser.newPage({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
    const shoot = async (hash: string, name: string, ready: string) => {
      await page.goto('about:blank');
      await page.goto(`${server.url}${hash}`);
      await page.locator(ready).first().waitFor();
      await page.waitForTimeout(300);
      await page.screenshot({ path: `${out}console-${name}${suffix}.png`, animations: 'disabled' });
    };
    await shoot('#/', 'overview', 'svg.chart');
    if (suffix === '') {
      await shoot(`#/streams/${ada}`, 'stream', 'article.event');
      await shoot('#/streams?type=user_update', 'streams', '[data-results]');
      await shoot('#/projections', 'projections', '[data-projection]');
      await shoot('#/projections/users', 'projection', 'table[data-rows]');
      await shoot('#/live', 'live', 'li[data-position]');
      await shoot('#/subscriptions', 'subscriptions', 'tr[data-subscription]');
    }
    await page.close();
  }
  process.stdout.write(`screenshots in ${out}\n`);
} finally {
  await browser.close();
  await server.close();
  await mailer.stop();
  await billing.stop();
  await store.close();
  await pglite.close();
}
