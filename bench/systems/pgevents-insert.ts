/**
 * pgevents through plain SQL: `insert into pgevents.events (type, uuid, body) values …` (the stream
 * version is assigned by pgevents' row trigger) and COPY; the users projection runs in its
 * statement-level trigger, through its batch handler or (second column) the seed's per-event
 * functions. Replay is pgevents.replay_projection('users').
 */
import { connect, InsertWriter } from '../lib/pg-writer.js';
import {
  bulkLoadPgevents,
  countsPgevents,
  onlineRebuildPgevents,
  replayPgevents,
  SCHEMA,
  setupPgevents,
  type HandlerKind,
} from '../lib/pgevents-server.js';
import type { BulkSource, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Timed, Writer } from '../lib/types.js';

class PgeventsInsertSystem implements SystemUnderTest {
  readonly projects = true;

  constructor(
    private readonly ctx: SystemContext,
    readonly id: string,
    readonly label: string,
    private readonly handlers: HandlerKind,
    readonly unsupported: SystemUnderTest['unsupported'] = {},
  ) {}

  setup(): Promise<void> {
    return setupPgevents(this.ctx.databaseUrl, { handlers: this.handlers });
  }

  async openWriter(): Promise<Writer> {
    return new InsertWriter(await connect(this.ctx.databaseUrl), `${SCHEMA}.events`);
  }

  load(source: BulkSource): Promise<Timed> {
    return bulkLoadPgevents(this.ctx.databaseUrl, source);
  }

  replay(): Promise<Timed> {
    return replayPgevents(this.ctx.databaseUrl);
  }

  rebuild(): Promise<Timed> {
    return onlineRebuildPgevents(this.ctx.databaseUrl);
  }

  counts(): Promise<Counts> {
    return countsPgevents(this.ctx.databaseUrl);
  }

  async close(): Promise<void> {}
}

export const pgeventsInsert: SystemDescriptor = {
  id: 'pgevents_insert',
  label: 'pgevents INSERT',
  description:
    "pgevents via plain SQL: INSERT/COPY into pgevents.events; the users read model through a batch handler (bench/sql/pgevents-handlers.sql users_apply) defined with define_projection; replay_projection; set-based rebuild = rebuild_projection through the projection's set-based statement.",
  create: (ctx) => new PgeventsInsertSystem(ctx, 'pgevents_insert', 'pgevents INSERT', 'batch'),
};

export const pgeventsInsertPerEvent: SystemDescriptor = {
  id: 'pgevents_insert_per_event',
  label: 'pgevents INSERT, per-event handlers',
  description:
    "The same as pgevents INSERT, with the seed's two projection functions as per-event handlers (bodies unchanged, search_path pinned): what the seed's own functions cost under pgevents.",
  create: (ctx) =>
    new PgeventsInsertSystem(ctx, 'pgevents_insert_per_event', 'pgevents INSERT, per-event handlers', 'per-event', {
      rebuild: 'the same set-based statement as the pgevents INSERT column',
    }),
};
