import { type EventStore, InvalidArgumentError, openEventStore } from '../index.js';
import { DEFAULT_TENANT_PREFIX, tenantSchema, type TenantStoresOptions } from '../tenants/tenants.js';
import { createOutput, type Output } from './output.js';

/** The options every command accepts. */
export interface GlobalOptions {
  databaseUrl?: string;
  replicaUrl?: string;
  dataDir?: string;
  schema?: string;
  /** A tenant's store: the schema `<tenant prefix>_<tenant>`. */
  tenant?: string;
  tenantPrefix?: string;
  json?: boolean;
}

export interface CommandContext {
  out: Output;
  /** Opens the store the global options name; the embedded engine is migrated on open. */
  openStore(options?: { migrate?: boolean }): Promise<EventStore>;
  /** The embedded store's data directory the global options name, or null when they name a server. */
  embeddedDataDir(): string | null;
  /** Where the tenant stores are (`pgevents tenants`): the database the global options name, and the prefix. */
  tenantStores(): TenantStoresOptions & { prefix: string };
}

/** The store's schema the global options name: --schema, or --tenant's schema; not both. */
function storeSchema(options: GlobalOptions): string | undefined {
  if (options.tenant === undefined) return options.schema;
  if (options.schema !== undefined) {
    throw new InvalidArgumentError('--tenant', 'Give either --schema or --tenant, not both', {
      hint: `--tenant <name> is the schema <prefix>_<name> (prefix ${DEFAULT_TENANT_PREFIX} unless --tenant-prefix).`,
    });
  }
  return tenantSchema(options.tenant, options.tenantPrefix ?? DEFAULT_TENANT_PREFIX);
}

export function createContext(options: GlobalOptions): CommandContext {
  const out = createOutput(options.json === true);
  const serverUrl = () => (options.dataDir ? undefined : (options.databaseUrl ?? process.env.DATABASE_URL));
  return {
    out,
    embeddedDataDir: () => (serverUrl() ? null : (options.dataDir ?? './.pgevents')),
    tenantStores() {
      const url = serverUrl();
      return { ...(url ? { url } : { dataDir: options.dataDir ?? './.pgevents' }), prefix: options.tenantPrefix ?? DEFAULT_TENANT_PREFIX };
    },
    async openStore({ migrate } = {}) {
      const url = serverUrl();
      // A hot standby for the log's reads: --replica-url, else PGEVENTS_REPLICA_URL with a server.
      const replicaUrl = options.replicaUrl ?? (url ? process.env.PGEVENTS_REPLICA_URL || undefined : undefined);
      const schema = storeSchema(options);
      return openEventStore({
        ...(url ? { url } : { dataDir: options.dataDir ?? './.pgevents' }),
        ...(replicaUrl ? { replicaUrl } : {}),
        ...(schema ? { schema } : {}),
        // Nothing else can install the embedded database, so it is brought up to date on open;
        // a server is migrated only by `pgevents migrate`.
        migrate: migrate ?? !url,
      });
    },
  };
}

/** Opens the store, runs `fn`, and always closes the store. */
export async function withStore<T>(
  context: CommandContext,
  fn: (store: EventStore) => Promise<T>,
  options?: { migrate?: boolean },
): Promise<T> {
  const store = await context.openStore(options);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
