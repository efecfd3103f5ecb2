import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { inject } from 'vitest';
import { type EventStore, openEventStore } from '../../src/index.js';
import { adminUrl, databaseUrl } from './server-url.js';

export type EngineName = 'embedded' | 'server';

/** A migrated store in a database of its own, and what a test needs to reach it. */
export interface TestStore {
  store: EventStore;
  engine: EngineName;
  /** Server only: the connection string of this store's database. */
  url: string | undefined;
  /** Opens another store on the same database (server), e.g. a second process's view. */
  openAnother(): Promise<EventStore>;
  dispose(): Promise<void>;
}

export interface TestEngine {
  name: EngineName;
  /** Why the engine's suite is skipped, or null when it runs. */
  unavailable: string | null;
  createStore(): Promise<TestStore>;
}

async function createEmbeddedStore(): Promise<TestStore> {
  const dump = readFileSync(inject('pgliteDump'));
  const pglite = await PGlite.create({ loadDataDir: new Blob([dump]) });
  const store = await openEventStore({ pglite });
  return {
    store,
    engine: 'embedded',
    url: undefined,
    openAnother: () => Promise.reject(new Error('the embedded engine is one connection: use the same store')),
    async dispose() {
      await store.close();
      await pglite.close();
    },
  };
}

/** Creates an empty database cloned from the migrated template; returns its name. */
export async function createServerDatabase(): Promise<string> {
  const template = inject('serverTemplate');
  if (!template) throw new Error(inject('serverUnavailableReason') ?? 'no server');
  const name = `pgevents_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  return name;
}

export async function dropServerDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.end();
  }
}

async function createServerStore(): Promise<TestStore> {
  const database = await createServerDatabase();
  return serverTestStore(databaseUrl(database), () => dropServerDatabase(database));
}

/** A test store on the server database at `url`; `release` runs once every store on it is closed. */
export async function serverTestStore(
  url: string,
  release: () => Promise<void>,
  options: { migrate?: boolean } = {},
): Promise<TestStore> {
  const store = await openEventStore({ url, ...(options.migrate ? { migrate: true } : {}) });
  const others: EventStore[] = [];
  return {
    store,
    engine: 'server',
    url,
    async openAnother() {
      const other = await openEventStore({ url });
      others.push(other);
      return other;
    },
    async dispose() {
      await Promise.all([store, ...others].map((opened) => opened.close()));
      await release();
    },
  };
}

export const embedded: TestEngine = { name: 'embedded', unavailable: null, createStore: createEmbeddedStore };

export const server: TestEngine = {
  name: 'server',
  get unavailable() {
    return inject('serverUnavailableReason');
  },
  createStore: createServerStore,
};
