/** SQL files of the benchmark and of pgevents, and COPY. */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { BulkSource } from './types.js';

const benchSqlDir = new URL('../sql/', import.meta.url);

/** A file of bench/sql/. */
export function benchSql(name: string): string {
  return readFileSync(new URL(name, benchSqlDir), 'utf8');
}

/** Stream the source's rows into `COPY <target> (uuid, type, body) FROM STDIN`; returns rows copied. */
export async function copyEvents(client: pg.Client, target: string, source: BulkSource): Promise<number> {
  const copy = client.query(copyFrom(`copy ${target} (uuid, type, body) from stdin`));
  await pipeline(Readable.from(source.copyRows()), copy);
  return copy.rowCount;
}
