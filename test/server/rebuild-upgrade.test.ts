import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, openEventStore } from '../../src/index.js';
import { migrationFiles } from '../../src/migrations/files.js';
import { usersHandlers, usersReadModelSql } from '../contract/fixtures.js';
import { dropServerDatabase, server } from '../support/engines.js';
import { createEmptyDatabase } from '../support/race-helpers.js';
import { clientSession, installReleasedMigrations } from '../support/released-migrations.js';

/** Installs the released migrations before 0005 by hand, as an older pgevents would have, with their ledger rows. */
async function installBefore5(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await installReleasedMigrations(clientSession(client), 'pgevents', 4);
  } finally {
    await client.end();
  }
}

describe.skipIf(server.unavailable !== null)('upgrading a store to migration 5 (server)', () => {
  let database: string;
  let store: EventStore;
  const ada = randomUUID();

  beforeAll(async () => {
    const created = await createEmptyDatabase();
    database = created.name;
    await installBefore5(created.url);
    store = await openEventStore({ url: created.url });
    // What a store of the previous release holds: a trigger projection with events, a refreshed view.
    await store.execScript(usersReadModelSql('pgevents'));
    await store.query(`select pgevents.define_projection('users', $1::jsonb, '{public.users}', 'uuid', 3)`, [JSON.stringify(usersHandlers)]);
    await store.append(ada, [{ type: 'user_create', body: { name: 'Ada' } }, { type: 'user_update', body: { name: 'Ada L.' } }]);
    await store.query(`select pgevents.define_materialized_view('user_names', 'select uuid, body ->> ''name'' as name from pgevents.events where type = ''user_create''', '{uuid}', 'public')`);
    await store.append(randomUUID(), [{ type: 'user_create', body: { name: 'Grace' } }]);
    expect((await store.migrate()).applied).toEqual(migrationFiles().filter((file) => file.id >= 5).map((file) => file.name));
  });
  afterAll(async () => {
    await store?.close();
    if (database) await dropServerDatabase(database);
  });

  it('takes existing projections as built with their version, and counts a view\'s staleness from its refresh position', async () => {
    const projections = (await store.status()).projections;
    expect(projections.find((projection) => projection.name === 'users')).toMatchObject({
      version: 3,
      builtVersion: 3,
      state: 'live',
      rows: 2,
    });
    expect(projections.find((projection) => projection.name === 'user_names')).toMatchObject({ staleEvents: 1, state: 'stale' });
  });

  it('keeps the projection code and functions of the previous release working', async () => {
    await store.append(ada, [{ type: 'user_update', body: { name: 'Countess' } }]);
    expect(await store.query('select name from public.users where uuid = $1', [ada])).toEqual([{ name: 'Countess' }]);
    await store.replay('users');
    await store.refreshMaterializedView('user_names');
    expect((await store.status()).projections.find((projection) => projection.name === 'user_names')).toMatchObject({
      staleEvents: 0,
      state: 'live',
    });
  });

  it('rebuilds and verifies a projection defined before the upgrade', async () => {
    const before = await store.query('select * from public.users order by uuid');
    const result = await store.rebuild('users');
    expect(result.applied).toBe(4);
    expect(await store.query('select * from public.users order by uuid')).toEqual(before);
    expect((await store.verify('users')).equal).toBe(true);
  });
});
