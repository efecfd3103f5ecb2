/** SQL files of the benchmark and of pgevents, and COPY. */
import { readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { BulkSource } from './types.js';

const benchSqlDir = new URL('../sql/', import.meta.url);
const migrationsDir = new URL('../../sql/migrations/', import.meta.url);

/** A file of bench/sql/. */
export function benchSql(name: string): string {
  return readFileSync(new URL(name, benchSqlDir), 'utf8');
}

/** pgevents' migrations (sql/migrations/NNNN_*.sql), in order, for one schema. */
export function pgeventsMigrations(schema: string): { name: string; sql: string }[] {
  return readdirSync(migrationsDir)
    .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
    .sort()
    .map((name) => ({
      name,
      sql: readFileSync(new URL(name, migrationsDir), 'utf8').replaceAll('{{schema}}', schema),
    }));
}

/** Install pgevents' schema by running its migration files in order. */
export async function installPgevents(client: pg.Client, schema = 'pgevents'): Promise<void> {
  for (const migration of pgeventsMigrations(schema)) {
    try {
      await client.query(migration.sql);
    } catch (error) {
      throw new Error(`pgevents migration ${migration.name} failed: ${(error as Error).message}`);
    }
  }
}

/** Stream the source's rows into `COPY <target> (uuid, type, body) FROM STDIN`; returns rows copied. */
export async function copyEvents(client: pg.Client, target: string, source: BulkSource): Promise<number> {
  const copy = client.query(copyFrom(`copy ${target} (uuid, type, body) from stdin`));
  await pipeline(Readable.from(source.copyRows()), copy);
  return copy.rowCount;
}
