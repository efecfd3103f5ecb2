/**
 * Emmett (@event-driven-io/emmett-postgresql): appendToStream on its PostgreSQL event store, one call
 * (one transaction) per batch. Stream names are `user-<uuid>`. Without `inlineProjection`, events
 * only; with it, the users read model is written in the append's transaction by an inline
 * projection that runs one SQL statement per event (see emmett-inline.ts).
 */
import { projections } from '@event-driven-io/emmett';
import {
  getPostgreSQLEventStore,
  type PostgresEventStore,
  type PostgreSQLProjectionDefinition,
} from '@event-driven-io/emmett-postgresql';
import pg from 'pg';
import { ignoreIdleErrors, withClient } from '../lib/db.js';
import { benchSql } from '../lib/sql.js';
import type { Batch, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Writer } from '../lib/types.js';

export const STREAM_PREFIX = 'user-';

export interface EmmettOptions {
  id: string;
  label: string;
  inlineProjection?: PostgreSQLProjectionDefinition<any>;
}

/** Connections in Emmett's pool: enough for the 8-connection mode. */
const POOL_SIZE = 10;

export class EmmettSystem implements SystemUnderTest {
  readonly id: string;
  readonly label: string;
  readonly projects: boolean;
  readonly unsupported = {
    bulk: 'no bulk/COPY path: events are written through its append function',
    replay: 'not measured: Emmett rebuilds projections through its async consumer, not an in-database replay',
    rebuild: 'no set-based read model API',
  };
  private store: PostgresEventStore | undefined;
  private pool: pg.Pool | undefined;

  constructor(
    private readonly ctx: SystemContext,
    private readonly options: EmmettOptions,
  ) {
    this.id = options.id;
    this.label = options.label;
    this.projects = options.inlineProjection !== undefined;
  }

  private getStore(): PostgresEventStore {
    this.pool ??= ignoreIdleErrors(new pg.Pool({ connectionString: this.ctx.databaseUrl, max: POOL_SIZE }));
    this.store ??= getPostgreSQLEventStore(this.ctx.databaseUrl, {
      connectionOptions: { pooled: true, pool: this.pool },
      projections: this.options.inlineProjection ? projections.inline([this.options.inlineProjection]) : [],
    });
    return this.store;
  }

  async setup(): Promise<void> {
    if (this.projects) await withClient(this.ctx.databaseUrl, (c) => c.query(benchSql('users.sql')));
    await this.getStore().schema.migrate();
  }

  async openWriter(): Promise<Writer> {
    const store = this.getStore();
    return {
      async append(batch: Batch): Promise<void> {
        await store.appendToStream(
          STREAM_PREFIX + batch.stream,
          batch.events.map((e) => ({ type: e.type, data: e.body })),
        );
      },
      async close(): Promise<void> {},
    };
  }

  counts(): Promise<Counts> {
    return withClient(this.ctx.databaseUrl, async (c) => {
      const e = await c.query<{ n: string }>('select count(*) as n from emt_messages');
      const u = this.projects ? await c.query<{ n: string }>('select count(*) as n from users') : null;
      return { events: Number(e.rows[0]?.n ?? 0), users: u ? Number(u.rows[0]?.n ?? 0) : null };
    });
  }

  async close(): Promise<void> {
    await this.store?.close();
    this.store = undefined;
    await this.pool?.end().catch(() => undefined);
    this.pool = undefined;
  }
}

export const emmett: SystemDescriptor = {
  id: 'emmett',
  label: 'Emmett',
  description: 'Emmett 0.42 PostgreSQL event store, appendToStream, no projection.',
  create: (ctx) => new EmmettSystem(ctx, { id: 'emmett', label: 'Emmett' }),
};
