#!/usr/bin/env node
// Runs the server contract suite (test/server/*.test.ts that wrap test/contract/*.contract.ts)
// against a Citus coordinator: node scripts/citus-contract.mjs <coordinator-url> [test files] [vitest options].
// See docs/scale-out.md#the-path-onto-citus. Exit codes: 0 the suite passed, 1 it failed,
// 2 usage, 3 the server is not a usable Citus coordinator, 4 it cannot be reached.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = fileURLToPath(new URL('..', import.meta.url));
const [url, ...vitestArgs] = process.argv.slice(2);

if (!url || url === '-h' || url === '--help' || !/^postgres(ql)?:\/\//.test(url)) {
  console.error(`usage: scripts/citus-contract.sh <coordinator-url> [test files] [vitest options]

Runs the server contract tests against the Citus coordinator at <coordinator-url>
(postgres://user[:password]@host:port/database, a superuser: each test file creates its own
database, propagated to the workers, with the citus extension and schema-based sharding on).
Needs Citus 12.1 or later (CREATE DATABASE propagation), at least one active worker, and the
workers reachable from here under the names and ports the coordinator lists in pg_dist_node,
with the same credentials.`);
  process.exit(2);
}

function refuse(message) {
  console.error(`citus-contract: ${message}`);
  process.exit(3);
}

const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 20_000 });
try {
  await client.connect();
} catch (error) {
  console.error(`citus-contract: cannot connect to ${url}: ${error instanceof Error ? error.message : error}`);
  process.exit(4);
}
let citus;
let workers;
try {
  const server = (await client.query('show server_version')).rows[0].server_version;
  citus = (await client.query(`select extversion from pg_extension where extname = 'citus'`)).rows[0]?.extversion;
  if (!citus) {
    const available = (await client.query(`select default_version from pg_available_extensions where name = 'citus'`)).rows[0];
    refuse(
      available
        ? `${url} is PostgreSQL ${server} with Citus ${available.default_version} available but not created in this database: ` +
            `set shared_preload_libraries = 'citus', restart, run "create extension citus" and add the workers (citus_add_node), then run this again.`
        : `${url} is PostgreSQL ${server} without Citus (no citus extension is installed on that server): ` +
            'give the URL of a Citus coordinator (Citus 12.1 or later).',
    );
  }
  const setting = await client.query(`select 1 from pg_settings where name = 'citus.enable_create_database_propagation'`);
  if (!setting.rowCount) {
    refuse(`Citus ${citus} cannot propagate CREATE DATABASE to its workers (citus.enable_create_database_propagation, Citus 12.1+): the suite creates a database per test file.`);
  }
  const coordinator = (await client.query('select citus_is_coordinator() as yes')).rows[0].yes;
  if (!coordinator) refuse(`${url} is a Citus worker, not the coordinator (citus_is_coordinator() is false).`);
  workers = (await client.query('select node_name, node_port from citus_get_active_worker_nodes() order by 1, 2')).rows;
  if (!workers.length) refuse(`the coordinator at ${url} has no active worker (citus_add_node): distributed schemas would all stay on the coordinator.`);
  console.log(`citus-contract: PostgreSQL ${server}, Citus ${citus}, workers: ${workers.map((w) => `${w.node_name}:${w.node_port}`).join(', ')}`);
} finally {
  await client.end();
}

// The server wrappers of the contract suites: test/server/<name>.test.ts that imports
// ../contract/<name>.contract.js and starts no cluster of its own (those run on a local initdb,
// not on the coordinator).
const contracts = new Set(readdirSync(new URL('../test/contract/', import.meta.url)).filter((f) => f.endsWith('.contract.ts')));
const files = readdirSync(new URL('../test/server/', import.meta.url))
  .filter((file) => file.endsWith('.test.ts'))
  .filter((file) => {
    const source = readFileSync(new URL(`../test/server/${file}`, import.meta.url), 'utf8');
    if (/throwaway-cluster/.test(source)) return false;
    return [...source.matchAll(/from '\.\.\/contract\/([\w-]+)\.contract\.js'/g)].some((m) => contracts.has(`${m[1]}.contract.ts`));
  })
  .map((file) => `test/server/${file}`);
if (!files.length || !existsSync(new URL('../node_modules/.bin/vitest', import.meta.url))) {
  console.error('citus-contract: no contract test files or no vitest: run from a checkout with its dependencies installed.');
  process.exit(1);
}
// Test files named after the URL replace the list (e.g. test/server/append.test.ts); options pass on.
const named = vitestArgs.filter((arg) => !arg.startsWith('-'));
const options = vitestArgs.filter((arg) => arg.startsWith('-'));
const selected = named.length ? named : files;
console.log(`citus-contract: running ${selected.length} contract test file(s)`);
const run = spawnSync('npx', ['vitest', 'run', ...selected, ...options], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TEST_DATABASE_URL: url, PGEVENTS_TEST_CITUS: '1', CI: 'true' },
});
process.exit(run.status ?? 1);
