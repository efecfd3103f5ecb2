import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { adminUrl } from './server-url.js';

/**
 * Roles are cluster-wide: every test file makes its own, with a random suffix, and drops them in
 * afterAll, after dropping its database (a role that still owns objects or holds privileges in a
 * database cannot be dropped).
 */
export function uniqueRoleName(kind: 'owner' | 'writer' | 'reader' | 'subscriber' | 'operator' | 'other'): string {
  const letter = { owner: 'o', writer: 'w', reader: 'r', subscriber: 's', operator: 'p', other: 'x' }[kind];
  return `pge_${letter}_${randomBytes(5).toString('hex')}`;
}

async function onAdmin<T>(fn: (admin: pg.Client) => Promise<T>, url = adminUrl()): Promise<T> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/** Creates login roles without any privilege (not superuser, no CREATEDB, no CREATEROLE). */
export async function createLoginRoles(names: string[], url?: string): Promise<void> {
  await onAdmin(async (admin) => {
    for (const name of names) await admin.query(`create role ${pg.escapeIdentifier(name)} login nosuperuser nocreatedb nocreaterole`);
  }, url);
}

/** Drops the roles if they exist; never fails the test run for a role already gone. */
export async function dropRoles(names: string[], url?: string): Promise<void> {
  await onAdmin(async (admin) => {
    for (const name of names) await admin.query(`drop role if exists ${pg.escapeIdentifier(name)}`);
  }, url);
}

/**
 * Creates an empty database owned by `owner` (a plain role), so that the owner can install the
 * schema itself, as in a least-privilege deployment. Returns its name.
 */
export async function createDatabaseOwnedBy(owner: string, url?: string): Promise<string> {
  const name = `pgevents_sec_${randomBytes(6).toString('hex')}`;
  await onAdmin((admin) => admin.query(`create database ${name} owner ${pg.escapeIdentifier(owner)}`), url);
  return name;
}

/** The same connection string, logging in as another role (the test servers trust local logins). */
export function urlAs(url: string, role: string): string {
  const parsed = new URL(url);
  parsed.username = role;
  parsed.password = '';
  return parsed.toString();
}

/** A connected client logged in as `role`; errors of the idle client are ignored. */
export async function connectAs(url: string, role: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: urlAs(url, role) });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/**
 * What a statement failed with: its SQLSTATE, or null when it succeeded. It runs in a transaction
 * that is always rolled back, so that a statement that unexpectedly succeeds changes nothing.
 */
export async function sqlStateOf(client: pg.Client, sql: string, params: unknown[] = []): Promise<string | null> {
  await client.query('begin');
  try {
    await client.query(sql, params);
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? 'no sqlstate';
  } finally {
    await client.query('rollback');
  }
}

/**
 * Runs every cleanup step even when an earlier one fails (a database that cannot be dropped must
 * not leave its roles behind on the shared server), then rethrows the first failure.
 */
export async function cleanUp(...steps: (() => Promise<unknown> | unknown)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}

/** Runs one statement, e.g. `store.query` of an EventStore. */
type Query = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

/** What a role may do to a store schema and some objects outside it, as sorted lists. */
export interface RolePrivileges {
  /** `relation: privilege` of the schema's relations and of `outside` (e.g. `events: select`). */
  relations: string[];
  /** `table.column: privilege` held on columns only, not on their whole table (e.g. `events.body: insert`). */
  columns: string[];
  /** The schema's functions and `outsideFunctions` the role may execute, without the schema or spaces. */
  functions: string[];
}

/**
 * The privileges `role` holds on the store schema `schema` (relations of every kind, column grants,
 * functions) and on the read-model tables `outside` and functions `outsideFunctions` (regprocedure
 * text) outside it, sorted, for exact comparisons. Run it as a role that may see the catalogue.
 */
export async function privilegesOf(
  query: Query,
  role: string,
  schema: string,
  outside: string[] = [],
  outsideFunctions: string[] = [],
): Promise<RolePrivileges> {
  const privileges = ['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger'];
  const relations = await query(
    `select case when n.nspname = $3 then c.relname::text else n.nspname || '.' || c.relname end || ': ' || p.privilege as item
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      cross join unnest($2::text[]) p(privilege)
      where (n.nspname = $3 and c.relkind in ('r', 'v', 'm', 'S', 'p') or c.oid = any($4::regclass[]))
        and has_table_privilege($1, c.oid, p.privilege)`,
    [role, privileges, schema, outside],
  );
  const columns = await query(
    `select c.relname || '.' || a.attname || ': ' || p.privilege as item
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      cross join unnest(array['select', 'insert', 'update']) p(privilege)
      where n.nspname = $2 and c.relkind in ('r', 'p')
        and has_column_privilege($1, c.oid, a.attnum, p.privilege)
        and not has_table_privilege($1, c.oid, p.privilege)`,
    [role, schema],
  );
  const functions = await query(
    `select p.oid::regprocedure::text as item
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where (n.nspname = $2 or p.oid = any($3::regprocedure[]))
        and has_function_privilege($1, p.oid, 'execute')`,
    [role, schema, outsideFunctions],
  );
  const items = (rows: Record<string, unknown>[]) => rows.map((row) => String(row.item)).sort();
  return {
    relations: items(relations),
    columns: items(columns),
    functions: items(functions).map((fn) => fn.replaceAll(' ', '').replace(new RegExp(`^${schema}\\.`), '')),
  };
}
