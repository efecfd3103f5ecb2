import { type EventStore, openEventStore } from '../index.js';
import { createOutput, type Output } from './output.js';

/** The options every command accepts. */
export interface GlobalOptions {
  databaseUrl?: string;
  replicaUrl?: string;
  dataDir?: string;
  schema?: string;
  json?: boolean;
}

export interface CommandContext {
  out: Output;
  /** Opens the store the global options name; the embedded engine is migrated on open. */
  openStore(options?: { migrate?: boolean }): Promise<EventStore>;
  /** The embedded store's data directory the global options name, or null when they name a server. */
  embeddedDataDir(): string | null;
}

export function createContext(options: GlobalOptions): CommandContext {
  const out = createOutput(options.json === true);
  const serverUrl = () => (options.dataDir ? undefined : (options.databaseUrl ?? process.env.DATABASE_URL));
  return {
    out,
    embeddedDataDir: () => (serverUrl() ? null : (options.dataDir ?? './.pgevents')),
    async openStore({ migrate } = {}) {
      const url = serverUrl();
      // A hot standby for the log's reads: --replica-url, else PGEVENTS_REPLICA_URL with a server.
      const replicaUrl = options.replicaUrl ?? (url ? process.env.PGEVENTS_REPLICA_URL || undefined : undefined);
      return openEventStore({
        ...(url ? { url } : { dataDir: options.dataDir ?? './.pgevents' }),
        ...(replicaUrl ? { replicaUrl } : {}),
        ...(options.schema ? { schema: options.schema } : {}),
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
