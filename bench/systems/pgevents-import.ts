/**
 * `pgevents import`, measured through the API it runs (store.importEvents): the load is handed over
 * as NDJSON text, read and checked line by line, COPYed into a temporary staging table and stored
 * by pgevents.import_events in one transaction, which takes every stream's next versions in one
 * INSERT … SELECT and runs the projection's triggers once for the whole import. Two columns: with
 * the users projection (batch handler), and with no projection (against the raw COPY). Bulk only.
 */
import pg from 'pg';
import { ignoreIdleErrors } from '../lib/db.js';
import { apiUnavailable, loadApi, setupStore, storeCounts, type EventStore } from '../lib/pgevents-api.js';
import { benchSql } from '../lib/sql.js';
import { timed } from '../lib/time.js';
import type { BulkSource, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Timed, Writer } from '../lib/types.js';
import { ndjsonOf } from '../lib/workload.js';

const APPEND_ONLY = 'import is a bulk path: appends are the other pgevents columns';

class PgeventsImportSystem implements SystemUnderTest {
  readonly unsupported = {
    seq1: APPEND_ONLY,
    conc8: APPEND_ONLY,
    batch100: APPEND_ONLY,
    replay: 'see the pgevents INSERT column',
    rebuild: 'see the pgevents INSERT column',
  };
  private pool: pg.Pool | undefined;
  private store: EventStore | undefined;

  constructor(
    private readonly ctx: SystemContext,
    readonly id: string,
    readonly label: string,
    readonly projects: boolean,
  ) {}

  async setup(): Promise<void> {
    const openEventStore = await loadApi();
    this.pool = ignoreIdleErrors(new pg.Pool({ connectionString: this.ctx.databaseUrl, max: 2 }));
    this.store = await openEventStore({ pool: this.pool });
    if (this.projects) {
      await setupStore(this.store);
    } else {
      await this.store.migrate();
      await this.store.execScript(benchSql('users.sql'));
    }
  }

  openWriter(): Promise<Writer> {
    return Promise.reject(new Error(APPEND_ONLY));
  }

  load(source: BulkSource): Promise<Timed> {
    return timed(
      () => this.store!.importEvents(ndjsonOf(source), { format: 'ndjson' }),
      (result) => result.imported,
    );
  }

  async counts(): Promise<Counts> {
    const counts = await storeCounts(this.store!);
    return this.projects ? counts : { events: counts.events, users: null };
  }

  async close(): Promise<void> {
    await this.store?.close();
    await this.pool?.end().catch(() => undefined);
    this.store = undefined;
    this.pool = undefined;
  }
}

export const pgeventsImport: SystemDescriptor = {
  id: 'pgevents_import',
  label: 'pgevents import',
  description:
    'pgevents import through store.importEvents: NDJSON read and checked in Node.js, COPY into a temporary staging table, then import_events(staging) for each part of 10,000 events (the server stores a part while Node.js reads the next) in one transaction; the users projection (batch handler) runs once per part.',
  unavailable: apiUnavailable,
  create: (ctx) => new PgeventsImportSystem(ctx, 'pgevents_import', 'pgevents import', true),
};

export const pgeventsImportBare: SystemDescriptor = {
  id: 'pgevents_import_bare',
  label: 'pgevents import, no projection',
  description: 'The same import into a store without any projection: what the event log itself costs, against the raw COPY.',
  unavailable: apiUnavailable,
  create: (ctx) => new PgeventsImportSystem(ctx, 'pgevents_import_bare', 'pgevents import, no projection', false),
};
