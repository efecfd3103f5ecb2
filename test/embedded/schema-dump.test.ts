import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SCHEMA_FILE, schemaFileText } from '../../scripts/lib/schema-file.js';

describe('sql/schema.sql', () => {
  let pglite: PGlite;

  beforeAll(async () => {
    pglite = await PGlite.create({ loadDataDir: new Blob([readFileSync(inject('pgliteDump'))]) });
  });
  afterAll(async () => {
    await pglite?.close();
  });

  it('describes the schema the migrations and definitions leave in a fresh store', async () => {
    const dumped = await schemaFileText(pglite);
    let committed = '';
    try {
      committed = readFileSync(SCHEMA_FILE, 'utf8');
    } catch {
      // missing: reported as out of date below
    }
    expect(committed.split('\n'), 'sql/schema.sql is out of date: run `npm run schema:dump` and commit it').toEqual(
      dumped.split('\n'),
    );
  });
});
