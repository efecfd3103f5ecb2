import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, openEventStore } from '../../src/index.js';
import { createServerDatabase, dropServerDatabase, server } from '../support/engines.js';
import { READ_ALL_TEST_TIMEOUT_MS } from '../contract/fixtures.js';
import { waitFor } from '../support/race-helpers.js';
import { databaseUrl } from '../support/server-url.js';

// caughtUp() waits for the events an open transaction anywhere on the shared server holds back.
describe.skipIf(server.unavailable !== null)('applicationName (server)', { timeout: READ_ALL_TEST_TIMEOUT_MS }, () => {
  let database: string;
  let url: string;
  let observer: pg.Client;

  /** The application_name of each connection to the test database, except the observer's. */
  async function namesOfConnections(): Promise<string[]> {
    const { rows } = await observer.query<{ application_name: string }>(
      `select application_name from pg_stat_activity where datname = $1 and pid <> pg_backend_pid() order by 1`,
      [database],
    );
    return rows.map((row) => row.application_name);
  }

  beforeAll(async () => {
    database = await createServerDatabase();
    url = databaseUrl(database);
    observer = new pg.Client({ connectionString: url, application_name: 'observer' });
    await observer.connect();
  });
  afterAll(async () => {
    await observer?.end();
    if (database) await dropServerDatabase(database);
  });

  it('names the pool and every LISTEN session the store opens', async () => {
    const store = await openEventStore({ url, applicationName: 'billing-worker' });
    try {
      await store.append(randomUUID(), [{ type: 'x', body: {} }]);
      const subscription = await store.subscribe({ name: 'named', handler: () => undefined });
      const follower = await store.follow({ handler: () => undefined });
      await subscription.caughtUp();
      await follower.caughtUp();
      // The pool's connection and the two LISTEN sessions.
      await waitFor("the store's three connections", async () => {
        const names = await namesOfConnections();
        return names.length >= 3 ? names : undefined;
      });
      expect(new Set(await namesOfConnections())).toEqual(new Set(['billing-worker']));
      await subscription.stop();
      await follower.stop();
    } finally {
      await store.close();
    }
  });

  it('names them pgevents by default, and keeps a name the url gives', async () => {
    // Connections of a closed store leave pg_stat_activity shortly after: wait for the state.
    const onlyNamed = (name: string) => async () => {
      const names = await namesOfConnections();
      return names.length > 0 && names.every((each) => each === name);
    };
    const plain = await openEventStore({ url });
    try {
      await plain.readAll();
      await waitFor('only the default-named connection', onlyNamed('pgevents'));
    } finally {
      await plain.close();
    }
    const fromUrl = await openEventStore({ url: `${url}?application_name=from_url`, applicationName: 'ignored' });
    try {
      await fromUrl.readAll();
      await waitFor("only the url's name", onlyNamed('from_url'));
    } finally {
      await fromUrl.close();
    }
  });

  for (const bad of ['', 'x'.repeat(64), 'caf\u00e9', 'line\nbreak', 42]) {
    it(`refuses applicationName ${JSON.stringify(bad)} with InvalidArgumentError`, async () => {
      await expect(openEventStore({ url, applicationName: bad as string })).rejects.toBeInstanceOf(InvalidArgumentError);
    });
  }
});
