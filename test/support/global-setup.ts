import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openEventStore } from '../../src/index.js';
import { definitionFiles, migrationFiles } from '../../src/migrations/files.js';
import { citusMode } from './citus.js';
import { adminUrl, databaseUrl, serverUrl } from './server-url.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteDump: string;
    serverTemplate: string | null;
    serverUnavailableReason: string | null;
  }
}

const cacheDir = new URL('../.cache/', import.meta.url);

function migrationsHash(): string {
  const hash = createHash('sha256');
  for (const file of migrationFiles()) hash.update(file.name).update(file.checksum);
  hash.update(definitionFiles().checksum);
  return hash.digest('hex').slice(0, 16);
}

// A fresh PGlite data dir takes seconds to initialise: migrate once, dump it, and let every test
// file load the dump.
async function preparePgliteDump(hash: string): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const dumpPath = new URL(`pglite-${hash}.tar.gz`, cacheDir).pathname;
  if (existsSync(dumpPath)) return dumpPath;
  const pglite = await PGlite.create();
  const store = await openEventStore({ pglite, migrate: true });
  await store.close();
  const dump = await pglite.dumpDataDir('gzip');
  await pglite.close();
  const temporary = `${dumpPath}.${process.pid}`;
  writeFileSync(temporary, Buffer.from(await dump.arrayBuffer()));
  renameSync(temporary, dumpPath);
  return dumpPath;
}

// One migrated template database per schema version; each test file clones it.
async function prepareServerTemplate(hash: string): Promise<string> {
  const template = `pgevents_template_${hash}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [template]);
    if (!rowCount) {
      const building = `${template}_${process.pid}`;
      await admin.query(`create database ${building}`);
      const store = await openEventStore({ url: databaseUrl(building), migrate: true });
      await store.close();
      await admin.query(`alter database ${building} rename to ${template}`).catch(async (error: unknown) => {
        await admin.query(`drop database if exists ${building}`);
        if (!(error instanceof Error && 'code' in error && error.code === '42P04')) throw error;
      });
    }
  } finally {
    await admin.end();
  }
  return template;
}

async function serverProblem(): Promise<string | null> {
  // Generous: on a loaded machine a slow answer must not quietly skip the whole server suite.
  const client = new pg.Client({ connectionString: adminUrl(), connectionTimeoutMillis: 20_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    return `no PostgreSQL server at ${serverUrl()}: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const hash = migrationsHash();
  project.provide('pgliteDump', await preparePgliteDump(hash));
  const problem = await serverProblem();
  if (problem && process.env.CI === 'true') {
    throw new Error(`CI=true requires the server suite, but ${problem}`);
  }
  project.provide('serverUnavailableReason', problem);
  // On Citus each test database is created and migrated by itself (test/support/citus.ts).
  project.provide('serverTemplate', problem || citusMode() ? null : await prepareServerTemplate(hash));
}
