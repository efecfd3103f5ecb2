/**
 * pgevents' bulk import, the path of `pgevents import`: in one transaction, COPY into a temporary
 * staging table, then pgevents.import_events(staging): one set-based INSERT … SELECT that takes
 * every stream's next versions, with the projection's triggers run once for the whole import.
 * Two columns: with the users projection (batch handler), and with no projection (against the raw
 * COPY limit). Bulk mode only.
 */
import type pg from 'pg';
import { withClient } from '../lib/db.js';
import { countsPgevents, SCHEMA, setupPgevents } from '../lib/pgevents-server.js';
import { copyEvents } from '../lib/sql.js';
import { timed } from '../lib/time.js';
import type { BulkSource, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Timed, Writer } from '../lib/types.js';

const APPEND_ONLY = 'import is a bulk path: appends are the other pgevents columns';

/** COPY the source into a staging table and import it, in one transaction; returns the events imported. */
export async function importThroughStaging(c: pg.Client, source: BulkSource): Promise<number> {
  await c.query('begin');
  try {
    await c.query(`create temporary table pgevents_import (
      ord bigint generated always as identity, uuid uuid, type text, body jsonb, metadata jsonb, event_id uuid
    ) on commit drop`);
    await copyEvents(c, 'pgevents_import', source);
    const r = await c.query<{ imported: string }>(`select imported from ${SCHEMA}.import_events('pg_temp.pgevents_import')`);
    await c.query('commit');
    return Number(r.rows[0]?.imported ?? 0);
  } catch (error) {
    await c.query('rollback').catch(() => undefined);
    throw error;
  }
}

class PgeventsImportSystem implements SystemUnderTest {
  readonly unsupported = { seq1: APPEND_ONLY, conc8: APPEND_ONLY, batch100: APPEND_ONLY, replay: 'see the pgevents INSERT column', rebuild: 'see the pgevents INSERT column' };

  constructor(
    private readonly ctx: SystemContext,
    readonly id: string,
    readonly label: string,
    readonly projects: boolean,
  ) {}

  setup(): Promise<void> {
    return setupPgevents(this.ctx.databaseUrl, { projection: this.projects });
  }

  openWriter(): Promise<Writer> {
    return Promise.reject(new Error(APPEND_ONLY));
  }

  load(source: BulkSource): Promise<Timed> {
    return withClient(this.ctx.databaseUrl, (c) => timed(() => importThroughStaging(c, source), (n) => n));
  }

  async counts(): Promise<Counts> {
    const counts = await countsPgevents(this.ctx.databaseUrl);
    return this.projects ? counts : { events: counts.events, users: null };
  }

  async close(): Promise<void> {}
}

export const pgeventsImport: SystemDescriptor = {
  id: 'pgevents_import',
  label: 'pgevents import',
  description:
    'The bulk path of `pgevents import`: COPY into a temporary staging table, then import_events(staging), in one transaction; the users projection (batch handler) runs once for the whole load.',
  create: (ctx) => new PgeventsImportSystem(ctx, 'pgevents_import', 'pgevents import', true),
};

export const pgeventsImportBare: SystemDescriptor = {
  id: 'pgevents_import_bare',
  label: 'pgevents import, no projection',
  description: 'The same import into a store without any projection: what the event log itself costs, against the raw COPY.',
  create: (ctx) => new PgeventsImportSystem(ctx, 'pgevents_import_bare', 'pgevents import, no projection', false),
};
