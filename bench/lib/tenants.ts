/**
 * Migrating many tenant stores (issue 16): one database, `tenants` schemas `tenant_<n>`, through
 * the TypeScript API (createTenantStores, migrateTenantStores, listTenantStores), as
 * `pgevents tenants create|migrate|list` run them. Measured: installing every store (fresh
 * installs: migration 0004's database-wide step serialises them), a migrate with nothing to do
 * (every store checked), a migrate that applies the definitions again to every store (what an
 * upgrade that changes functions costs; forced by emptying each store's definitions ledger), at
 * concurrency 1 and 4, and the list. Server.
 */
import pg from 'pg';
import { createTenantStores, listTenantStores, migrateTenantStores } from '../../src/index.js';
import { benchDatabaseName, dropDatabase, recreateDatabase, withClient } from './db.js';

export interface TenantStep {
  what: string;
  concurrency: number;
  seconds: number;
  stores: number;
}

export interface TenantMeasurement {
  tenants: number;
  steps: TenantStep[];
}

const names = (count: number) => Array.from({ length: count }, (_, i) => `t${String(i).padStart(5, '0')}`);

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - start) / 1000, value };
}

export async function measureTenantMigrations(
  options: { tenants: number; concurrency: number },
  log: (line: string) => void,
): Promise<TenantMeasurement> {
  const database = benchDatabaseName(`tenants_${process.pid}`);
  const url = await recreateDatabase(database);
  const steps: TenantStep[] = [];
  const tenants = names(options.tenants);
  const every = Math.max(1, Math.round(options.tenants / 10));
  const progress = (label: string) => {
    const start = performance.now();
    return (step: { done: number; total: number; error?: Error }) => {
      if (step.error) throw step.error;
      if (step.done % every === 0 || step.done === step.total) {
        log(`  ${label}: ${step.done}/${step.total} after ${((performance.now() - start) / 1000).toFixed(1)} s`);
      }
    };
  };
  const record = (what: string, concurrency: number, seconds: number, stores: number) => {
    steps.push({ what, concurrency, seconds, stores });
    log(`  ${what} (concurrency ${concurrency}): ${stores} stores in ${seconds.toFixed(1)} s (${((seconds * 1000) / stores).toFixed(1)} ms a store)`);
  };
  try {
    const created = await timed(() =>
      createTenantStores(tenants, { url, concurrency: options.concurrency, onProgress: progress('create') }),
    );
    if (created.value.failed.length > 0) throw created.value.failed[0]!.error;
    record('create (fresh install of every store)', options.concurrency, created.seconds, tenants.length);

    for (const concurrency of [1, options.concurrency]) {
      const checked = await timed(() => migrateTenantStores({ url, concurrency }));
      if (checked.value.migrated.some((store) => store.applied.length > 0 || store.definitions)) throw new Error('a store changed on a no-op migrate');
      record('migrate, nothing to do', concurrency, checked.seconds, checked.value.migrated.length);
    }

    for (const concurrency of [1, options.concurrency]) {
      await withClient(url, async (client: pg.Client) => {
        for (const tenant of tenants) await client.query(`delete from tenant_${tenant}.definitions`);
      });
      const upgraded = await timed(() => migrateTenantStores({ url, concurrency, onProgress: progress(`upgrade c${concurrency}`) }));
      if (upgraded.value.migrated.filter((store) => store.definitions).length !== tenants.length) throw new Error('not every store was upgraded');
      record('migrate, definitions applied again (an upgrade)', concurrency, upgraded.seconds, tenants.length);
    }

    const listed = await timed(() => listTenantStores({ url }));
    if (listed.value.length !== tenants.length || !listed.value.every((store) => store.upToDate)) throw new Error('list does not show every store up to date');
    record('list', 1, listed.seconds, listed.value.length);
    return { tenants: options.tenants, steps };
  } finally {
    await dropDatabase(database).catch(() => undefined);
  }
}

export function tenantSummary(measured: TenantMeasurement): string[] {
  return measured.steps.map(
    (step) =>
      `${step.what}, concurrency ${step.concurrency}: ${step.stores.toLocaleString('en-US')} stores in ${step.seconds.toFixed(1)} s (${((step.seconds * 1000) / step.stores).toFixed(1)} ms a store)`,
  );
}
