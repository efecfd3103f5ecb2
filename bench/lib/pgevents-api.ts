/**
 * The pgevents TypeScript API (src/index.ts: openEventStore), loaded at run time so that the rest of
 * the benchmark runs even while src/ is being changed; a system whose API does not load is left out
 * with the reason.
 */
import type { EventStore, OpenEventStoreOptions } from '../../src/index.js';
import { benchSql } from './sql.js';
import { REBUILD_SQL, USERS_BATCH_HANDLERS } from './pgevents-server.js';
import type { Batch, Counts, Writer } from './types.js';

export type { EventStore };

type OpenEventStore = (options: OpenEventStoreOptions) => Promise<EventStore>;

let loaded: Promise<OpenEventStore> | undefined;

export function loadApi(): Promise<OpenEventStore> {
  loaded ??= import('../../src/index.js').then((m) => m.openEventStore);
  return loaded;
}

/** null when the API loads; else why not. */
export async function apiUnavailable(): Promise<string | null> {
  try {
    await loadApi();
    return null;
  } catch (error) {
    return `src/index.ts does not load: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Migrate and define the users projection (same handlers and set-based statement as on the server). */
export async function setupStore(store: EventStore): Promise<void> {
  await store.migrate();
  await store.execScript(benchSql('users.sql') + '\n' + benchSql('pgevents-handlers.sql'));
  await store.defineProjection({
    name: 'users',
    handlers: USERS_BATCH_HANDLERS,
    tables: ['users'],
    streamColumn: 'uuid',
    rebuildSql: REBUILD_SQL,
  });
}

export function storeWriter(store: EventStore): Writer {
  return {
    async append(batch: Batch): Promise<void> {
      await store.append(batch.stream, batch.events);
    },
    async close(): Promise<void> {},
  };
}

export async function storeCounts(store: EventStore): Promise<Counts> {
  const [row] = await store.query<{ e: unknown; u: unknown }>(
    'select (select count(*) from pgevents.events) as e, (select count(*) from public.users) as u',
  );
  return { events: Number(row?.e ?? 0), users: Number(row?.u ?? 0) };
}
