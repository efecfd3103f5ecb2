/**
 * The seed's design: its events table, one row-level AFTER INSERT trigger per event type calling a
 * plpgsql projection function, the users read model, and its replay loop (bench/sql/seed-*.sql).
 */
import { withClient } from '../lib/db.js';
import { connect, InsertWriter } from '../lib/pg-writer.js';
import { benchSql, copyEvents } from '../lib/sql.js';
import type { BulkSource, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Writer } from '../lib/types.js';

const HANDLED = `type in ('user_create', 'user_update')`;

class SeedSystem implements SystemUnderTest {
  readonly id = 'seed';
  readonly label = 'seed triggers';
  readonly projects = true;
  readonly unsupported = {};

  constructor(private readonly ctx: SystemContext) {}

  async setup(): Promise<void> {
    await withClient(this.ctx.databaseUrl, async (c) => {
      await c.query(benchSql('seed-events.sql'));
      await c.query(benchSql('users.sql'));
      await c.query(benchSql('seed-projection.sql'));
    });
  }

  async openWriter(): Promise<Writer> {
    return new InsertWriter(await connect(this.ctx.databaseUrl), 'events');
  }

  bulkLoad(source: BulkSource): Promise<number> {
    return withClient(this.ctx.databaseUrl, (c) => copyEvents(c, 'events', source));
  }

  replay(): Promise<number> {
    return withClient(this.ctx.databaseUrl, async (c) => {
      // The truncate and the DO block run as one implicit transaction (one simple-query message).
      await c.query(benchSql('seed-replay.sql'));
      const r = await c.query<{ n: string }>(`select count(*) as n from events where ${HANDLED}`);
      return Number(r.rows[0]?.n ?? 0);
    });
  }

  rebuild(): Promise<number> {
    return withClient(this.ctx.databaseUrl, async (c) => {
      await c.query(benchSql('rebuild.sql').replaceAll('{{events}}', 'events'));
      const r = await c.query<{ n: string }>(`select count(*) as n from events where ${HANDLED}`);
      return Number(r.rows[0]?.n ?? 0);
    });
  }

  counts(): Promise<Counts> {
    return withClient(this.ctx.databaseUrl, async (c) => {
      const r = await c.query<{ e: string; u: string }>(
        'select (select count(*) from events) as e, (select count(*) from users) as u',
      );
      return { events: Number(r.rows[0]?.e ?? 0), users: Number(r.rows[0]?.u ?? 0) };
    });
  }

  async close(): Promise<void> {}
}

export const seed: SystemDescriptor = {
  id: 'seed',
  label: 'seed triggers',
  description:
    "The seed's SQL: per-type row-level AFTER INSERT triggers calling plpgsql projection functions (users create/update); replay by its plpgsql loop.",
  create: (ctx) => new SeedSystem(ctx),
};
