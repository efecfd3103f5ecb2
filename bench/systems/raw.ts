/**
 * The raw limit: the seed's events table (its indexes included) with no trigger and no read model.
 * What PostgreSQL itself does to store an event, with nothing on top.
 */
import type pg from 'pg';
import { withClient } from '../lib/db.js';
import { connect, InsertWriter } from '../lib/pg-writer.js';
import { benchSql, copyEvents } from '../lib/sql.js';
import type { BulkSource, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Writer } from '../lib/types.js';

class RawSystem implements SystemUnderTest {
  readonly id = 'raw';
  readonly label = 'raw INSERT';
  readonly projects = false;
  readonly unsupported = {
    replay: 'no projection',
    rebuild: 'no projection',
  };

  constructor(private readonly ctx: SystemContext) {}

  async setup(): Promise<void> {
    await withClient(this.ctx.databaseUrl, (c) => c.query(benchSql('seed-events.sql')));
  }

  async openWriter(): Promise<Writer> {
    return new InsertWriter(await connect(this.ctx.databaseUrl), 'events');
  }

  bulkLoad(source: BulkSource): Promise<number> {
    return withClient(this.ctx.databaseUrl, (c: pg.Client) => copyEvents(c, 'events', source));
  }

  counts(): Promise<Counts> {
    return withClient(this.ctx.databaseUrl, async (c) => {
      const r = await c.query<{ n: string }>('select count(*) as n from events');
      return { events: Number(r.rows[0]?.n ?? 0), users: null };
    });
  }

  async close(): Promise<void> {}
}

export const raw: SystemDescriptor = {
  id: 'raw',
  label: 'raw INSERT',
  description: "INSERT/COPY into the seed's events table (its 3 indexes and primary key), no triggers, no read model.",
  create: (ctx) => new RawSystem(ctx),
};
