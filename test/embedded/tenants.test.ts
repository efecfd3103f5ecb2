import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, describe, expect, it } from 'vitest';
import { listTenantStores, migrateTenantStores, openEventStore, tenantSchema } from '../../src/index.js';
import { codeSchemaVersion } from '../../src/migrations/runner.js';
import { runCli } from '../support/cli.js';

describe('tenant stores, one schema per tenant (embedded: one data dir, many schemas)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('the CLI creates tenant stores in a data dir and selects one with --tenant', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgevents-tenants-'));
    dirs.push(dir);
    const created = await runCli(['--data-dir', dir, '--json', 'tenants', 'create', 'east', 'west']);
    expect(created.exitCode).toBe(0);
    expect(JSON.parse(created.stdout).migrated.map((store: { schema: string }) => store.schema)).toEqual(['tenant_east', 'tenant_west']);
    const append = await runCli(['--data-dir', dir, '--tenant', 'west', 'append', randomUUID(), 'user_create', '{"name":"Ada"}']);
    expect(append.exitCode).toBe(0);
    const list = await runCli(['--data-dir', dir, '--json', 'tenants', 'list']);
    const rows = JSON.parse(list.stdout) as { tenant: string; lastPosition: string | null; upToDate: boolean }[];
    expect(rows.map((row) => [row.tenant, row.upToDate, row.lastPosition !== null])).toEqual([
      ['east', true, false],
      ['west', true, true],
    ]);

    // The API on the same data dir: a store whose definitions are older is brought up to date.
    const pglite = await PGlite.create(dir);
    try {
      await pglite.query('delete from tenant_east.definitions');
      const migrated = await migrateTenantStores({ pglite, concurrency: 8 });
      expect(migrated.failed).toEqual([]);
      expect(migrated.migrated.map((one) => [one.tenant, one.version, one.definitions !== undefined])).toEqual([
        ['east', codeSchemaVersion(), true],
        ['west', codeSchemaVersion(), false],
      ]);
      expect((await listTenantStores({ pglite })).map((info) => info.upToDate)).toEqual([true, true]);
      const store = await openEventStore({ pglite, schema: tenantSchema('east') });
      expect((await store.readAll()).events).toEqual([]);
      await store.close();
    } finally {
      await pglite.close();
    }
  });
});
