/**
 * pgevents on its embedded engine (PGlite: PostgreSQL compiled to WebAssembly, in this process, one
 * connection, data in a scratch directory): store.append, store.replay, store.rebuild. Not
 * comparable one-to-one with the server columns: no network and no separate server process, but
 * one single-threaded engine and a different storage layer.
 */
import { join } from 'node:path';
import { apiUnavailable, loadApi, setupStore, storeCounts, storeWriter, type EventStore } from '../lib/pgevents-api.js';
import { timed } from '../lib/time.js';
import type { BulkSource, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Timed, Writer } from '../lib/types.js';
import { ndjsonOf } from '../lib/workload.js';

class PgeventsEmbeddedSystem implements SystemUnderTest {
  readonly id = 'pgevents_embedded';
  readonly label = 'pgevents embedded (PGlite)';
  readonly projects = true;
  readonly unsupported = {
    conc8: 'one connection: PGlite is a single-user engine in this process',
    bulk: 'not measured on the embedded engine (its replay data is loaded by store.importEvents, untimed)',
  };
  private store: EventStore | undefined;

  constructor(private readonly ctx: SystemContext) {}

  async setup(): Promise<void> {
    const openEventStore = await loadApi();
    this.store = await openEventStore({ dataDir: join(this.ctx.workDir, 'pglite') });
    await setupStore(this.store);
  }

  async openWriter(): Promise<Writer> {
    return storeWriter(this.store!);
  }

  load(source: BulkSource): Promise<Timed> {
    return timed(() => this.store!.importEvents(ndjsonOf(source), { format: 'ndjson' }), (result) => result.imported);
  }

  replay(): Promise<Timed> {
    return timed(() => this.store!.replay('users'), (r) => r.applied);
  }

  rebuild(): Promise<Timed> {
    return timed(
      () => this.store!.rebuild('users', { restart: true }),
      async () => {
        const [row] = await this.store!.query<{ n: unknown }>(
          `select count(*) as n from pgevents.events where type in ('user_create', 'user_update')`,
        );
        return Number(row?.n ?? 0);
      },
    );
  }

  counts(): Promise<Counts> {
    return storeCounts(this.store!);
  }

  async close(): Promise<void> {
    await this.store?.close();
    this.store = undefined;
  }
}

export const pgeventsEmbedded: SystemDescriptor = {
  id: 'pgevents_embedded',
  label: 'pgevents embedded (PGlite)',
  description:
    'pgevents on PGlite (in-process WebAssembly PostgreSQL, data on local disk): store.append, store.replay, store.rebuild.',
  unavailable: apiUnavailable,
  embedded: true,
  create: (ctx) => new PgeventsEmbeddedSystem(ctx),
};
