/**
 * The seed's design: its events table, one row-level AFTER INSERT trigger per event type calling a
 * plpgsql projection function, the users read model, and its replay loop (bench/sql/seed-*.sql).
 */
import type pg from 'pg';
import { withClient } from '../lib/db.js';
import { connect, InsertWriter } from '../lib/pg-writer.js';
import { benchSql, copyEvents } from '../lib/sql.js';
import { timed } from '../lib/time.js';
import type { BulkSource, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Timed, Writer } from '../lib/types.js';

async function handledEvents(c: pg.Client): Promise<number> {
  const r = await c.query<{ n: string }>(`select count(*) as n from events where type in ('user_create', 'user_update')`);
  return Number(r.rows[0]?.n ?? 0);
}

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

  load(source: BulkSource): Promise<Timed> {
    return withClient(this.ctx.databaseUrl, (c) => timed(() => copyEvents(c, 'events', source), (n) => n));
  }

  replay(): Promise<Timed> {
    // The truncate and the DO block are one simple-query message: one implicit transaction.
    return withClient(this.ctx.databaseUrl, (c) =>
      timed(() => c.query(benchSql('seed-replay.sql')), () => handledEvents(c)),
    );
  }

  rebuild(): Promise<Timed> {
    const sql = benchSql('rebuild.sql').replaceAll('{{events}}', 'events');
    return withClient(this.ctx.databaseUrl, (c) => timed(() => c.query(sql), () => handledEvents(c)));
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
