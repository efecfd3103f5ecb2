import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTenantStores,
  InvalidArgumentError,
  listTenantStores,
  MigrationChecksumError,
  migrateTenantStores,
  openEventStore,
  type TenantProgress,
  tenantSchema,
} from '../../src/index.js';
import { codeSchemaVersion } from '../../src/migrations/runner.js';
import { runCli } from '../support/cli.js';
import { createServerDatabase, dropServerDatabase, server } from '../support/engines.js';
import { databaseUrl } from '../support/server-url.js';

describe.skipIf(server.unavailable !== null)('tenant stores, one schema per tenant (server)', () => {
  let database: string;
  let url: string;
  let admin: pg.Client;

  beforeAll(async () => {
    database = await createServerDatabase();
    url = databaseUrl(database);
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    if (database) await dropServerDatabase(database);
  });

  it('creates many stores at once, reporting progress, and lists them', async () => {
    const progress: TenantProgress[] = [];
    const tenants = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];
    const result = await createTenantStores(tenants, { url, concurrency: 3, onProgress: (step) => progress.push(step) });
    expect(result.failed).toEqual([]);
    expect(result.migrated.map((store) => store.tenant)).toEqual([...tenants].sort());
    expect(result.migrated.every((store) => store.version === codeSchemaVersion() && store.applied.length === codeSchemaVersion())).toBe(true);
    expect(progress.map((step) => step.done)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(progress.map((step) => step.total))).toEqual(new Set([6]));

    const store = await openEventStore({ url, schema: tenantSchema('acme') });
    try {
      await store.append(randomUUID(), [{ type: 'user_create', body: { name: 'Ada' } }]);
    } finally {
      await store.close();
    }
    // A schema that follows the naming rule but holds no store is not a tenant store.
    await admin.query('create schema tenant_notastore; create table tenant_notastore.migrations (id int)');
    const listed = await listTenantStores({ url });
    expect(listed.map((info) => info.tenant)).toEqual([...tenants].sort());
    expect(listed.every((info) => info.upToDate && info.version === codeSchemaVersion())).toBe(true);
    expect(listed.find((info) => info.tenant === 'acme')?.lastPosition).toMatch(/^\d+$/);
    expect(listed.find((info) => info.tenant === 'globex')?.lastPosition).toBeNull();
    // Another prefix is another set of tenants.
    expect(await listTenantStores({ url, prefix: 'customer' })).toEqual([]);

    const again = await createTenantStores(['acme'], { url });
    expect(again.migrated).toEqual([expect.objectContaining({ tenant: 'acme', applied: [] })]);
  });

  it('refuses tenant names that are not plain lowercase identifiers, creating nothing', async () => {
    for (const name of ['Acme', 'a-b', '1st', '', 'x;drop', 'acme_snapshots', 'a'.repeat(60)]) {
      await expect(createTenantStores(['zeta', name], { url })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(createTenantStores(['zeta'], { url, prefix: 'Bad-Prefix' })).rejects.toBeInstanceOf(InvalidArgumentError);
    const [row] = (await admin.query(`select count(*)::int as n from pg_namespace where nspname = 'tenant_zeta'`)).rows;
    expect(row.n).toBe(0);
  });

  it('migrates every store; one that fails is named and left as it was while the others migrate', async () => {
    // globex runs definitions older than this code's; initech's ledger names a migration that differs.
    await admin.query(`delete from tenant_globex.definitions`);
    await admin.query(`update tenant_initech.migrations set checksum = 'tampered' where id = 1`);
    const before = await listTenantStores({ url });
    expect(before.filter((info) => !info.upToDate).map((info) => info.tenant)).toEqual(['globex']);
    const result = await migrateTenantStores({ url, concurrency: 4 });
    expect(result.failed.map((failure) => failure.tenant)).toEqual(['initech']);
    expect(result.failed[0]?.error).toBeInstanceOf(MigrationChecksumError);
    expect(result.migrated.map((store) => store.tenant)).toEqual(['acme', 'globex', 'hooli', 'stark', 'umbrella']);
    expect(result.migrated.find((store) => store.tenant === 'globex')?.definitions).toBeDefined();
    expect(result.migrated.find((store) => store.tenant === 'acme')?.definitions).toBeUndefined();

    const cli = await runCli(['--database-url', url, '--json', 'tenants', 'migrate']);
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr).toContain('initech');
    const output = JSON.parse(cli.stdout);
    expect(output.failed).toEqual([expect.objectContaining({ tenant: 'initech', schema: 'tenant_initech', error: expect.objectContaining({ code: 'MIGRATION_CHANGED' }) })]);
    expect(output.migrated).toHaveLength(5);

    await admin.query(`delete from tenant_initech.migrations where id = 1`);
    await admin.query(`insert into tenant_initech.migrations (id, name, checksum) select 1, name, checksum from tenant_acme.migrations where id = 1`);
    const fixed = await runCli(['--database-url', url, 'tenants', 'migrate', '--concurrency', '2']);
    expect(fixed.exitCode).toBe(0);
    expect(fixed.stdout).toContain('migrated 6 tenant stores');
  });

  it('migrates only the tenants named, and refuses one without a store', async () => {
    const some = await migrateTenantStores({ url, tenants: ['acme', 'stark'] });
    expect(some.migrated.map((store) => store.tenant)).toEqual(['acme', 'stark']);
    await expect(migrateTenantStores({ url, tenants: ['acme', 'nobody'] })).rejects.toThrow(/nobody \(schema tenant_nobody\)/);
    const cli = await runCli(['--database-url', url, 'tenants', 'migrate', 'nobody']);
    expect(cli.exitCode).toBe(2);
  });

  it('runs beside a plain migrate of the same stores', async () => {
    const fresh = ['p1', 'p2', 'p3', 'p4'];
    const stores = await Promise.all(fresh.map((tenant) => openEventStore({ url, schema: tenantSchema(tenant) })));
    try {
      const [many, ...single] = await Promise.all([
        createTenantStores(fresh, { url, concurrency: 4 }),
        ...stores.map((store) => store.migrate()),
      ]);
      expect(many.failed).toEqual([]);
      // Each store was installed exactly once, by one or the other.
      for (const [index, result] of single.entries()) {
        const byMany = many.migrated.find((store) => store.tenant === fresh[index]);
        expect(result.applied.length + (byMany?.applied.length ?? 0)).toBe(codeSchemaVersion());
      }
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('the CLI lists tenants and selects one with --tenant', async () => {
    const list = await runCli(['--database-url', url, '--json', 'tenants', 'list']);
    expect(list.exitCode).toBe(0);
    const rows = JSON.parse(list.stdout) as { tenant: string; schema: string; upToDate: boolean }[];
    expect(rows.map((row) => row.tenant)).toContain('hooli');
    expect(rows.every((row) => row.upToDate)).toBe(true);
    const table = await runCli(['--database-url', url, 'tenants', 'list']);
    expect(table.stdout).toMatch(/hooli\s+tenant_hooli\s+\d+\s+yes/);

    const stream = randomUUID();
    const append = await runCli(['--database-url', url, '--tenant', 'hooli', 'append', stream, 'user_create', '{"name":"Ada"}']);
    expect(append.exitCode).toBe(0);
    const status = await runCli(['--database-url', url, '--tenant', 'hooli', '--json', 'status']);
    expect(JSON.parse(status.stdout)).toMatchObject({ schema: 'tenant_hooli' });
    const [count] = (await admin.query(`select count(*)::int as n from tenant_hooli.events where uuid = $1`, [stream])).rows;
    expect(count.n).toBe(1);

    const both = await runCli(['--database-url', url, '--tenant', 'hooli', '--schema', 'pgevents', 'status']);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('either --schema or --tenant');
    const bad = await runCli(['--database-url', url, '--tenant', 'Hooli', 'status']);
    expect(bad.exitCode).toBe(2);
    const prefixed = await runCli(['--database-url', url, '--tenant-prefix', 'customer', '--tenant', 'hooli', 'status']);
    expect(prefixed.exitCode).toBe(3);
    expect(prefixed.stderr).toContain('customer_hooli');
  });
});
