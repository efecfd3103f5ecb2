/**
 * The raw limit: the seed's events table (its indexes included) with no trigger and no read model.
 * What PostgreSQL itself does to store an event, with nothing on top.
 */
import { withClient } from '../lib/db.js';
import { connect, InsertWriter } from '../lib/pg-writer.js';
import { benchSql, copyEvents } from '../lib/sql.js';
import { timed } from '../lib/time.js';
import type { BulkSource, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Timed, Writer } from '../lib/types.js';

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

  load(source: BulkSource): Promise<Timed> {
    return withClient(this.ctx.databaseUrl, (c) => timed(() => copyEvents(c, 'events', source), (n) => n));
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
  description: "INSERT/COPY into the seed's events table (primary key and its 3 indexes), no triggers, no read model.",
  create: (ctx) => new RawSystem(ctx),
};
