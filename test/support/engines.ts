import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import pg from 'pg';
import { inject } from 'vitest';
import { type EventStore, openEventStore } from '../../src/index.js';
import { citusMode, createCitusDatabase, dropCitusDatabase } from './citus.js';
import { cleanUp, uniqueRoleName, urlAs } from './roles.js';
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
  /**
   * Set when `store` is opened as an application role ({@link asApplicationRoles}): the store's
   * owner, which installed the schema.
   */
  owner?: EventStore;
  /** Set with `owner`: the same database as a role granted operator access (reset, skip, resume). */
  operator?: EventStore;
  /** Set with `owner`: the names of the application role (writer + subscriber) and the operator role. */
  roles?: { application: string; operator: string };
}

export interface TestEngine {
  name: EngineName;
  /** Why the engine's suite is skipped, or null when it runs. */
  unavailable: string | null;
  createStore(): Promise<TestStore>;
  /** How the stores are reached when not as their owner, e.g. `as a writer+subscriber role`; shown in suite titles. */
  variant?: string;
}

async function createEmbeddedStore(): Promise<TestStore> {
  const dump = readFileSync(inject('pgliteDump'));
  const pglite = await PGlite.create({ loadDataDir: new Blob([dump]), extensions: { pgcrypto } });
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
  if (citusMode()) {
    const problem = inject('serverUnavailableReason');
    if (problem) throw new Error(problem);
    const name = `pgevents_test_${randomBytes(6).toString('hex')}`;
    await createCitusDatabase(name);
    const store = await openEventStore({ url: databaseUrl(name), migrate: true });
    await store.close();
    return name;
  }
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
  if (citusMode()) return dropCitusDatabase(name);
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

/**
 * The same engine, with each store opened as an application role instead of its owner, as
 * docs/security.md sets a deployment up: the role is granted writer and subscriber access and may
 * create tables in `public` (an application owns its read-model tables); the store's owner and a
 * role granted operator access are opened next to it (`owner`, `operator`). Server engines only:
 * the roles are the cluster's, with unique names, dropped by `dispose`.
 */
export function asApplicationRoles(engine: TestEngine): TestEngine {
  return {
    name: engine.name,
    variant: 'as a writer+subscriber role',
    get unavailable() {
      return engine.unavailable;
    },
    async createStore() {
      const base = await engine.createStore();
      const owner = base.store;
      const roles = { application: uniqueRoleName('subscriber'), operator: uniqueRoleName('operator') };
      const opened: EventStore[] = [];
      let created = false;
      const dispose = () =>
        cleanUp(
          () => Promise.all(opened.map((store) => store.close())),
          // A role that holds privileges in a database cannot be dropped: drop what it owns and was
          // granted here first (the owner is the server's superuser).
          () =>
            created &&
            owner.execScript(`
              drop owned by ${pg.escapeIdentifier(roles.application)}, ${pg.escapeIdentifier(roles.operator)};
              drop role ${pg.escapeIdentifier(roles.application)};
              drop role ${pg.escapeIdentifier(roles.operator)};`),
          () => base.dispose(),
        );
      try {
        if (!base.url) throw new Error(`${engine.name} stores have no roles: application roles need a server`);
        await owner.execScript(`
          create role ${pg.escapeIdentifier(roles.application)} login nosuperuser nocreatedb nocreaterole;
          create role ${pg.escapeIdentifier(roles.operator)} login nosuperuser nocreatedb nocreaterole;`);
        created = true;
        await owner.execScript(`grant create on schema public to ${pg.escapeIdentifier(roles.application)}`);
        await owner.grant({ writers: [roles.application], subscribers: [roles.application], operators: [roles.operator] });
        const url = urlAs(base.url, roles.application);
        const open = async (as: string) => {
          const store = await openEventStore({ url: urlAs(base.url!, as) });
          opened.push(store);
          return store;
        };
        const store = await open(roles.application);
        const operator = await open(roles.operator);
        return {
          store,
          engine: base.engine,
          url,
          openAnother: () => open(roles.application),
          dispose,
          owner,
          operator,
          roles,
        };
      } catch (error) {
        await dispose();
        throw error;
      }
    },
  };
}

/**
 * The same engine, with every store's events table partitioned by a hash of the stream into
 * `partitions` partitions (`partition_events`) before the test sees it: the contracts that run on it
 * prove each guarantee of the log in the partitioned layout too. Wrap it in
 * {@link asApplicationRoles} to run them as application roles (the grants come after the move).
 */
export function partitioned(engine: TestEngine, partitions = 4, options: { archivePartition?: boolean } = {}): TestEngine {
  return {
    name: engine.name,
    variant: [engine.variant, `partitioned into ${partitions}${options.archivePartition ? ' with an archive partition' : ''}`].filter(Boolean).join(', '),
    get unavailable() {
      return engine.unavailable;
    },
    async createStore() {
      const base = await engine.createStore();
      try {
        await (base.owner ?? base.store).partitionEvents(partitions, options);
      } catch (error) {
        await base.dispose();
        throw error;
      }
      return base;
    },
  };
}
