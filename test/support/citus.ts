import pg from 'pg';
import { adminUrl, databaseUrl } from './server-url.js';

/**
 * PGEVENTS_TEST_CITUS=1 (set by scripts/citus-contract.mjs): the server is a Citus coordinator.
 * Citus keeps its metadata (the extension, pg_dist_node) per database, so a database cloned from a
 * migrated template is not a Citus database on its own: each test database is created empty with
 * CREATE DATABASE propagation (Citus 12.1+), gets the extension and the coordinator's workers, and
 * the settings docs/scale-out.md gives an operator (schema-based sharding, triggers, sequential
 * DDL); the store is migrated into it afterwards, so its schema is created as a distributed schema. Unset, nothing here runs and the suite clones its template as always.
 */
export function citusMode(): boolean {
  return process.env.PGEVENTS_TEST_CITUS === '1';
}

interface WorkerNode {
  nodename: string;
  nodeport: number;
}

async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** The coordinator's own entry (if it has one) and the active primary workers its database knows. */
async function clusterNodes(): Promise<{ coordinator: WorkerNode | undefined; workers: WorkerNode[] }> {
  return withClient(adminUrl(), async (admin) => {
    const { rows } = await admin.query<WorkerNode & { groupid: number }>(
      `select nodename, nodeport, groupid from pg_dist_node
        where isactive and noderole = 'primary' order by nodeid`,
    );
    return {
      coordinator: rows.find((node) => node.groupid === 0),
      workers: rows.filter((node) => node.groupid !== 0),
    };
  });
}

/** The same credentials and database on another host and port (a worker, as the coordinator names it). */
function onNode(url: string, node: WorkerNode): string {
  const parsed = new URL(url);
  parsed.hostname = node.nodename;
  parsed.port = String(node.nodeport);
  return parsed.toString();
}

/**
 * Creates database `name` on the coordinator and, by propagation, on every worker; makes it a Citus
 * database with the coordinator's workers and schema-based sharding on.
 */
export async function createCitusDatabase(name: string): Promise<void> {
  const { coordinator, workers } = await clusterNodes();
  await withClient(adminUrl(), async (admin) => {
    await admin.query('set citus.enable_create_database_propagation = on');
    await admin.query(`create database ${pg.escapeIdentifier(name)}`);
    await admin.query(`alter database ${pg.escapeIdentifier(name)} set citus.enable_schema_based_sharding = on`);
    // The store's triggers: Citus refuses CREATE TRIGGER on a distributed table (a distributed
    // schema's tables included) unless this is on.
    await admin.query(`alter database ${pg.escapeIdentifier(name)} set citus.enable_unsafe_triggers = on`);
    // migrate creates tables, functions and triggers in one transaction (docs/scale-out.md).
    await admin.query(`alter database ${pg.escapeIdentifier(name)} set citus.multi_shard_modify_mode = 'sequential'`);
  });
  const url = databaseUrl(name);
  // The extension must exist in the worker's database before the coordinator adds the node.
  for (const worker of workers) {
    await withClient(onNode(url, worker), (client) => client.query('create extension if not exists citus'));
  }
  await withClient(url, async (client) => {
    await client.query('create extension if not exists citus');
    // Workers connect back to the coordinator under the name the coordinator's own database uses.
    if (coordinator) {
      await client.query('select citus_set_coordinator_host($1, $2)', [coordinator.nodename, coordinator.nodeport]);
    }
    for (const worker of workers) {
      await client.query('select citus_add_node($1, $2)', [worker.nodename, worker.nodeport]);
    }
  });
}

export async function dropCitusDatabase(name: string): Promise<void> {
  await withClient(adminUrl(), async (admin) => {
    await admin.query('set citus.enable_create_database_propagation = on');
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
  });
}
