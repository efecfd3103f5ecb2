import type { Executor, Queryable } from '../db/executor.js';
import { toInteger } from '../db/normalize.js';
import { InvalidArgumentError } from '../errors.js';
import { createExecutor, type OpenEventStoreOptions } from '../event-store.js';
import { definitionFiles } from '../migrations/files.js';
import { codeSchemaVersion, migrateSchemas } from '../migrations/runner.js';
import type { MigrateResult } from '../types.js';

/**
 * Schema-per-tenant stores: the store of tenant `acme` is the schema `<prefix>_acme` (prefix
 * `tenant` unless given). A schema is a tenant store when its name follows that rule and it holds
 * a pgevents store (its `migrations` and `events` tables); nothing else is recorded, so a tenant
 * store made by `openEventStore({ schema: 'tenant_acme', migrate: true })` is one too.
 */
export const DEFAULT_TENANT_PREFIX = 'tenant';

const NAME = /^[a-z][a-z0-9_]*$/;
// A store keeps its snapshots in `<schema>_snapshots`: a tenant of that name would share it.
const RESERVED_SUFFIXES = ['_snapshots'];

/** Where the tenant stores are, and how many to migrate at once. */
export interface TenantStoresOptions extends Omit<OpenEventStoreOptions, 'schema' | 'migrate'> {
  /** The tenant stores' schemas are `<prefix>_<tenant>`. Default `tenant`. */
  prefix?: string;
}

export interface MigrateTenantStoresOptions extends TenantStoresOptions {
  /** Only these tenants (default: every tenant store found). */
  tenants?: string[];
  /**
   * How many stores migrate at once (server only: one connection each; the embedded engine is one
   * connection). Default 4. Fresh installs are serialised by the database-wide step of migration
   * 0004; upgrades and checks run side by side.
   */
  concurrency?: number;
  /** Called after each store, successful or not. */
  onProgress?: (progress: TenantProgress) => void;
}

export interface TenantProgress {
  done: number;
  total: number;
  tenant: string;
  schema: string;
  /** Set when this tenant's store failed to migrate (the others go on). */
  error?: Error;
}

export interface TenantMigrated extends MigrateResult {
  tenant: string;
}

export interface TenantFailure {
  tenant: string;
  schema: string;
  error: Error;
}

export interface MigrateTenantStoresResult {
  /** The code's migration number. */
  version: number;
  migrated: TenantMigrated[];
  /** The stores that failed; each was left as it was (one transaction per store). */
  failed: TenantFailure[];
}

export interface TenantStoreInfo {
  tenant: string;
  schema: string;
  /** The store's migration number. */
  version: number;
  /** Whether the store is at this code's migration and definitions (`pgevents tenants migrate` has nothing to do). */
  upToDate: boolean;
  /** The position of the store's last event, or null when it has none. */
  lastPosition: string | null;
}

function checkPrefix(prefix: string): string {
  if (!NAME.test(prefix) || prefix.length > 40) {
    throw new InvalidArgumentError('prefix', `Invalid tenant schema prefix: ${JSON.stringify(prefix)}`, {
      hint: 'Use a plain lowercase identifier of at most 40 characters: a letter, then letters, digits or _.',
    });
  }
  return prefix;
}

/** The schema of `tenant`'s store: `<prefix>_<tenant>`, after checking the tenant's name. */
export function tenantSchema(tenant: string, prefix: string = DEFAULT_TENANT_PREFIX): string {
  checkPrefix(prefix);
  const schema = `${prefix}_${tenant}`;
  if (typeof tenant !== 'string' || !NAME.test(tenant) || schema.length > 63 || RESERVED_SUFFIXES.some((suffix) => tenant.endsWith(suffix))) {
    throw new InvalidArgumentError('tenant', `Invalid tenant name: ${JSON.stringify(String(tenant)).slice(0, 80)}`, {
      hint: `Use a plain lowercase identifier (a letter, then letters, digits or _) of at most ${62 - prefix.length} characters, not ending in ${RESERVED_SUFFIXES.join(' or ')}.`,
    });
  }
  return schema;
}

async function withExecutor<T>(options: TenantStoresOptions, concurrency: number, fn: (executor: Executor) => Promise<T>): Promise<T> {
  const prefix = checkPrefix(options.prefix ?? DEFAULT_TENANT_PREFIX);
  const executor = await createExecutor({ ...options, poolSize: Math.max(options.poolSize ?? 0, concurrency + 1) }, `${prefix}_`);
  try {
    return await fn(executor);
  } finally {
    await executor.close();
  }
}

interface FoundStore {
  tenant: string;
  schema: string;
  hasDefinitions: boolean;
}

async function findTenantStores(db: Queryable, prefix: string): Promise<FoundStore[]> {
  const rows = await db.query<{ schema: string; has_definitions: boolean }>(
    `select n.nspname as schema,
            exists (select 1 from pg_class c where c.relnamespace = n.oid and c.relname = 'definitions' and c.relkind = 'r') as has_definitions
       from pg_namespace n
      where starts_with(n.nspname, $1)
        and exists (select 1 from pg_class c where c.relnamespace = n.oid and c.relname = 'migrations' and c.relkind = 'r')
        and exists (select 1 from pg_class c where c.relnamespace = n.oid and c.relname = 'events' and c.relkind in ('r', 'p'))
      order by n.nspname`,
    [`${prefix}_`],
  );
  return rows
    .map((row) => ({ tenant: row.schema.slice(prefix.length + 1), schema: row.schema, hasDefinitions: row.has_definitions }))
    .filter((found) => NAME.test(found.tenant));
}

async function migrateMany(
  executor: Executor,
  stores: { tenant: string; schema: string }[],
  concurrency: number,
  onProgress: ((progress: TenantProgress) => void) | undefined,
): Promise<MigrateTenantStoresResult> {
  const tenantOf = new Map(stores.map((store) => [store.schema, store.tenant]));
  const migrated: TenantMigrated[] = [];
  const failed: TenantFailure[] = [];
  let done = 0;
  const queue = stores.map((store) => store.schema)[Symbol.iterator]();
  const workers = executor.engine === 'embedded' ? 1 : Math.min(concurrency, Math.max(stores.length, 1));
  // Every worker finishes before the executor closes; a worker whose connection failed ends the run.
  const settled = await Promise.allSettled(
    Array.from({ length: workers }, () =>
      executor.session((session) =>
        migrateSchemas(session, { [Symbol.iterator]: () => queue }, (schema, result, error) => {
          const tenant = tenantOf.get(schema) ?? schema;
          done += 1;
          if (result) {
            migrated.push({ tenant, ...result });
            onProgress?.({ done, total: stores.length, tenant, schema });
          } else {
            const failure = error instanceof Error ? error : new Error(String(error));
            failed.push({ tenant, schema, error: failure });
            onProgress?.({ done, total: stores.length, tenant, schema, error: failure });
          }
        }),
      ),
    ),
  );
  const broken = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (broken) throw broken.reason;
  const byTenant = (a: { tenant: string }, b: { tenant: string }) => (a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0);
  return { version: codeSchemaVersion(), migrated: migrated.sort(byTenant), failed: failed.sort(byTenant) };
}

function concurrencyOf(value: number | undefined): number {
  const concurrency = value ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new InvalidArgumentError('concurrency', `Invalid concurrency: ${String(value)}`, { hint: 'Use a whole number from 1 to 64.' });
  }
  return concurrency;
}

/**
 * Installs (or brings up to date) the store of each tenant, in the schema `<prefix>_<tenant>`.
 * Each store migrates in a transaction of its own: the result lists the ones that failed, and the
 * others are installed all the same.
 * @throws {InvalidArgumentError} for a tenant name that is not a plain lowercase identifier.
 */
export async function createTenantStores(
  tenants: string[],
  options: Omit<MigrateTenantStoresOptions, 'tenants'> = {},
): Promise<MigrateTenantStoresResult> {
  const prefix = checkPrefix(options.prefix ?? DEFAULT_TENANT_PREFIX);
  if (!Array.isArray(tenants) || tenants.length === 0) {
    throw new InvalidArgumentError('tenants', 'No tenant given', { hint: 'Name at least one tenant.' });
  }
  const stores = [...new Set(tenants)].map((tenant) => ({ tenant, schema: tenantSchema(tenant, prefix) }));
  const concurrency = concurrencyOf(options.concurrency);
  return withExecutor(options, concurrency, (executor) => migrateMany(executor, stores, concurrency, options.onProgress));
}

/**
 * Brings every tenant store of the database (or the `tenants` given, which must exist) up to this
 * code's migrations and definitions, `concurrency` at a time, each in a transaction of its own.
 * Safe to run while the stores are in use and alongside `migrate()` of any store: the locks of
 * {@link migrate} are respected.
 * @throws {InvalidArgumentError} for a tenant name that is not valid or whose store does not exist.
 */
export async function migrateTenantStores(options: MigrateTenantStoresOptions = {}): Promise<MigrateTenantStoresResult> {
  const prefix = checkPrefix(options.prefix ?? DEFAULT_TENANT_PREFIX);
  const wanted = options.tenants?.map((tenant) => ({ tenant, schema: tenantSchema(tenant, prefix) }));
  const concurrency = concurrencyOf(options.concurrency);
  return withExecutor(options, concurrency, async (executor) => {
    const found = await findTenantStores(executor, prefix);
    let stores: { tenant: string; schema: string }[] = found;
    if (wanted) {
      const existing = new Set(found.map((store) => store.schema));
      const missing = wanted.filter((store) => !existing.has(store.schema));
      if (missing.length > 0) {
        throw new InvalidArgumentError('tenants', `No tenant store for ${missing.map((store) => `${store.tenant} (schema ${store.schema})`).join(', ')}`, {
          hint: 'Create it with `pgevents tenants create <tenant>` (or createTenantStores); `pgevents tenants list` lists the existing ones.',
        });
      }
      stores = wanted;
    }
    return migrateMany(executor, stores, concurrency, options.onProgress);
  });
}

/**
 * The tenant stores of the database: each one's tenant, schema, migration number, whether it is up
 * to date with this code, and the position of its last event.
 */
export async function listTenantStores(options: TenantStoresOptions = {}): Promise<TenantStoreInfo[]> {
  const prefix = checkPrefix(options.prefix ?? DEFAULT_TENANT_PREFIX);
  return withExecutor(options, 1, async (executor) => {
    const found = await findTenantStores(executor, prefix);
    const codeVersion = codeSchemaVersion();
    const checksum = definitionFiles().checksum;
    const infos: TenantStoreInfo[] = [];
    // One statement per 200 stores: the schema names are checked identifiers (NAME, from pg_namespace).
    for (let start = 0; start < found.length; start += 200) {
      const chunk = found.slice(start, start + 200);
      const sql = chunk
        .map(
          (store, index) =>
            `select ${index} as i,
                    (select coalesce(max(id), 0) from "${store.schema}".migrations) as version,
                    ${store.hasDefinitions ? `(select d.checksum from "${store.schema}".definitions d order by d.id desc limit 1)` : 'null::text'} as definitions,
                    (select max(id) from "${store.schema}".events)::text as last_position`,
        )
        .join('\nunion all\n');
      const rows = await executor.query<{ i: unknown; version: unknown; definitions: string | null; last_position: string | null }>(sql);
      for (const row of rows) {
        const store = chunk[toInteger(row.i)];
        if (!store) continue;
        const version = toInteger(row.version);
        infos.push({
          tenant: store.tenant,
          schema: store.schema,
          version,
          upToDate: version === codeVersion && row.definitions === checksum,
          lastPosition: row.last_position,
        });
      }
    }
    return infos;
  });
}
