/**
 * pgevents through its TypeScript API on the server: openEventStore({ pool }) and
 * store.append(stream, events), one round trip (one append_events call with generated event ids)
 * per batch.
 */
import pg from 'pg';
import { ignoreIdleErrors } from '../lib/db.js';
import { apiUnavailable, loadApi, setupStore, storeCounts, storeWriter, type EventStore } from '../lib/pgevents-api.js';
import type { Counts, SystemContext, SystemDescriptor, SystemUnderTest, Writer } from '../lib/types.js';

class PgeventsApiSystem implements SystemUnderTest {
  readonly id = 'pgevents_api';
  readonly label = 'pgevents TS API';
  readonly projects = true;
  readonly unsupported = {
    bulk: 'store.importEvents is the pgevents import column; store.append goes through append_events',
    replay: 'store.replay runs the same replay_start/replay_step SQL as the pgevents INSERT column',
    rebuild: 'store.rebuild runs the same rebuild SQL as the pgevents INSERT column',
  };
  private pool: pg.Pool | undefined;
  private store: EventStore | undefined;

  constructor(private readonly ctx: SystemContext) {}

  async setup(): Promise<void> {
    const openEventStore = await loadApi();
    this.pool = ignoreIdleErrors(new pg.Pool({ connectionString: this.ctx.databaseUrl, max: 10 }));
    this.store = await openEventStore({ pool: this.pool });
    await setupStore(this.store);
  }

  async openWriter(): Promise<Writer> {
    return storeWriter(this.store!);
  }

  counts(): Promise<Counts> {
    return storeCounts(this.store!);
  }

  async close(): Promise<void> {
    await this.store?.close();
    await this.pool?.end().catch(() => undefined);
    this.store = undefined;
    this.pool = undefined;
  }
}

export const pgeventsApi: SystemDescriptor = {
  id: 'pgevents_api',
  label: 'pgevents TS API',
  description: 'pgevents through its TypeScript API on the server: openEventStore({ pool }), store.append(stream, events).',
  unavailable: apiUnavailable,
  create: (ctx) => new PgeventsApiSystem(ctx),
};
