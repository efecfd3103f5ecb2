/** Server connection helpers: the admin connection and the throwaway databases. */
import pg from 'pg';

export const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The server to benchmark against: DATABASE_URL, else the local PostgreSQL. */
export function serverUrl(): string {
  return process.env.DATABASE_URL ?? DEFAULT_URL;
}

/** The same server, another database. */
export function databaseUrl(database: string, base: string = serverUrl()): string {
  const url = new URL(base);
  url.pathname = '/' + encodeURIComponent(database);
  return url.toString();
}

/** Every throwaway database of the benchmark has this prefix. */
export const DATABASE_PREFIX = 'pgevents_bench_';

export function benchDatabaseName(systemId: string): string {
  return DATABASE_PREFIX + systemId.replace(/[^a-z0-9]+/g, '_');
}

/**
 * An error on an idle connection (e.g. the server terminated it) is emitted as an event, which
 * would end the process when nobody listens; the query that uses the connection next fails instead.
 */
export function ignoreIdleErrors<T extends { on(event: 'error', listener: (error: Error) => void): unknown }>(emitter: T): T {
  emitter.on('error', (error: Error) => process.stderr.write(`  (connection error: ${error.message})\n`));
  return emitter;
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = ignoreIdleErrors(new pg.Client({ connectionString: url }));
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}

/** Drop (if present) and create an empty database from template0. */
export async function recreateDatabase(name: string): Promise<string> {
  await withClient(serverUrl(), async (c) => {
    await c.query(`drop database if exists ${quoteIdent(name)} with (force)`);
    await c.query(`create database ${quoteIdent(name)} template template0`);
  });
  return databaseUrl(name);
}

export async function dropDatabase(name: string): Promise<void> {
  await withClient(serverUrl(), async (c) => {
    await c.query(`drop database if exists ${quoteIdent(name)} with (force)`);
  });
}

export interface ServerInfo {
  version: string;
  settings: Record<string, string>;
}

const REPORTED_SETTINGS = [
  'shared_buffers',
  'synchronous_commit',
  'fsync',
  'wal_level',
  'max_wal_size',
  'checkpoint_timeout',
  'work_mem',
  'jit',
];

export async function serverInfo(): Promise<ServerInfo> {
  return withClient(serverUrl(), async (c) => {
    const version = (await c.query<{ v: string }>('select version() as v')).rows[0]?.v ?? '?';
    const rows = (
      await c.query<{ name: string; setting: string; unit: string | null }>(
        'select name, setting, unit from pg_settings where name = any($1)',
        [REPORTED_SETTINGS],
      )
    ).rows;
    const settings: Record<string, string> = {};
    for (const r of rows) settings[r.name] = r.unit ? `${r.setting} (${r.unit})` : r.setting;
    return { version, settings };
  });
}

/**
 * Flush dirty buffers before a measured phase, so that one system's checkpoint debt is not paid
 * during another system's run. Needs superuser; skipped silently when not allowed.
 */
export async function checkpoint(): Promise<void> {
  try {
    await withClient(serverUrl(), (c) => c.query('checkpoint'));
  } catch {
    // not a superuser: measure without it
  }
}

/** Build a multi-row VALUES list of `columns` placeholders per row: ($1,$2,$3),($4,$5,$6)… */
export function valuesPlaceholders(rows: number, columns: number, casts: string[] = []): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let c = 0; c < columns; c++) cells.push(`$${r * columns + c + 1}${casts[c] ?? ''}`);
    out.push(`(${cells.join(', ')})`);
  }
  return out.join(', ');
}
