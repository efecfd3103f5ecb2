import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { type EventStore, type MigrateResult, openEventStore } from '../../src/index.js';
import { codeSchemaVersion } from '../../src/migrations/runner.js';
import { migrationFiles } from '../../src/migrations/files.js';
import { dropServerDatabase, server } from '../support/engines.js';
import {
  closeAll,
  createEmptyDatabase,
  createPool,
  lockWaiters,
  waitFor,
  waitForLockWaiters,
  withDeadline,
} from '../support/race-helpers.js';

const STORES = 5;

describe.skipIf(server.unavailable !== null)('concurrent migrate (server)', () => {
  const databases: string[] = [];
  const opened: EventStore[] = [];

  afterAll(async () => {
    await closeAll(opened);
    for (const name of databases) await dropServerDatabase(name);
  });

  async function emptyDatabase(): Promise<string> {
    const { name, url } = await createEmptyDatabase();
    databases.push(name);
    return url;
  }

  async function open(url: string, count: number, schema?: string): Promise<EventStore[]> {
    const stores = await Promise.all(
      Array.from({ length: count }, () => openEventStore({ url, poolSize: 2, ...(schema ? { schema } : {}) })),
    );
    opened.push(...stores);
    return stores;
  }

  async function ledger(store: EventStore): Promise<{ id: number; name: string; times: number }[]> {
    return store.query<{ id: number; name: string; times: number }>(
      `select id, name, count(*) over (partition by id)::int as times from ${store.schema}.migrations order by id`,
    );
  }

  async function expectWorkingStore(store: EventStore): Promise<void> {
    const stream = randomUUID();
    await store.append(stream, [{ type: 'installed', body: {} }], { expectedVersion: 'no_stream' });
    await store.append(stream, [{ type: 'checked', body: {} }], { expectedVersion: 1 });
    expect((await store.readStream(stream)).map((event) => [event.type, event.version])).toEqual([
      ['installed', 1],
      ['checked', 2],
    ]);
  }

  it('applies each migration exactly once when five stores migrate an empty database at the same time', async () => {
    const url = await emptyDatabase();
    const stores = await open(url, STORES);

    const results = await Promise.all(stores.map((store) => store.migrate()));

    const names = migrationFiles().map((file) => file.name);
    expect(results.flatMap((result) => result.applied).sort()).toEqual(names);
    expect(results.every((result) => result.version === codeSchemaVersion())).toBe(true);
    expect(await ledger(stores[0]!)).toEqual(migrationFiles().map((file) => ({ id: file.id, name: file.name, times: 1 })));
    for (const store of stores) expect(await store.schemaVersion()).toBe(codeSchemaVersion());
    await expectWorkingStore(stores[STORES - 1]!);
  });

  it('applies nothing when five stores migrate an up-to-date database at the same time', async () => {
    const url = await emptyDatabase();
    const [first, ...rest] = await open(url, STORES);
    await first!.migrate();

    const results: MigrateResult[] = await Promise.all([first!, ...rest].map((store) => store.migrate()));

    expect(results.map((result) => result.applied)).toEqual(Array.from({ length: STORES }, () => []));
    expect((await ledger(first!)).every((row) => row.times === 1)).toBe(true);
  });

  it('runs the migrations of two schemas of one database one after the other, since a migration may change database-wide state', async () => {
    const url = await emptyDatabase();
    const [first] = await open(url, 1, 'events_first');
    const [second] = await open(url, 1, 'events_second');
    const admin = createPool(url, 2);
    const blocker = await admin.connect();
    try {
      // An uncommitted schema of the same name holds the first migration up inside its run.
      await blocker.query('begin');
      await blocker.query('create schema events_first');
      const firstRun = first!.migrate();
      await waitForLockWaiters(admin, 1);
      let secondDone = false;
      const secondRun = second!.migrate().finally(() => {
        secondDone = true;
      });

      const secondState = await waitFor('the second migration to finish or to wait for the first', async () => {
        if (secondDone) return 'ran alongside the first';
        return (await lockWaiters(admin)) >= 2 ? 'waited for the first' : undefined;
      });
      expect(secondState).toBe('waited for the first');
      await blocker.query('rollback');
      const results = await withDeadline('both migrations', Promise.all([firstRun, secondRun]), 30_000);
      expect(results.map((result) => result.applied.length)).toEqual([
        migrationFiles().length,
        migrationFiles().length,
      ]);
    } finally {
      blocker.release(true);
      await admin.end();
    }
  });

  it('migrates three schemas of one empty database at the same time, each once', async () => {
    const url = await emptyDatabase();
    const schemas = ['events_left', 'events_middle', 'events_right'];
    const stores = (await Promise.all(schemas.map((schema) => open(url, 2, schema)))).flat();

    const results = await Promise.all(stores.map((store) => store.migrate()));

    const names = migrationFiles().map((file) => file.name);
    for (const schema of schemas) {
      const applied = results.filter((result) => result.schema === schema).flatMap((result) => result.applied);
      expect(applied.sort()).toEqual(names);
      const store = stores.find((candidate) => candidate.schema === schema)!;
      expect((await ledger(store)).every((row) => row.times === 1)).toBe(true);
      await expectWorkingStore(store);
    }
  });
});
