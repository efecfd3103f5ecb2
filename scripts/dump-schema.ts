/**
 * `npm run schema:dump`: migrates a fresh embedded store (PGlite) with the default schema and writes
 * the description of its schema to sql/schema.sql. `-- --check` writes nothing and exits with 1
 * when sql/schema.sql is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { openEventStore } from '../src/index.js';
import { SCHEMA_FILE, SCHEMA_FILE_SCHEMA, schemaFileText } from './lib/schema-file.js';

const check = process.argv.includes('--check');
const pglite = await PGlite.create();
try {
  const store = await openEventStore({ pglite, schema: SCHEMA_FILE_SCHEMA, migrate: true });
  await store.close();
  const dump = await schemaFileText(pglite);
  const path = fileURLToPath(SCHEMA_FILE);
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(path, 'utf8');
    } catch {
      // a missing file is out of date too
    }
    if (committed !== dump) {
      process.stderr.write(`${path} is out of date: run npm run schema:dump\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`${path} is up to date\n`);
    }
  } else {
    writeFileSync(path, dump);
    process.stderr.write(`wrote ${path}\n`);
  }
} finally {
  await pglite.close();
}
