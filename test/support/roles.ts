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
