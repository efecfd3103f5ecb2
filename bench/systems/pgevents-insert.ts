/**
 * pgevents through plain SQL: `insert into pgevents.events (type, uuid, body) values …` (the stream
 * version is assigned by pgevents' row trigger) and COPY; the users projection runs in its
 * statement-level trigger. Replay is pgevents.replay_projection('users').
 */
import { connect, InsertWriter } from '../lib/pg-writer.js';
import {
  bulkLoadPgevents,
  countsPgevents,
  rebuildPgevents,
  replayPgevents,
  SCHEMA,
  setupPgevents,
} from '../lib/pgevents-server.js';
import type { BulkSource, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Timed, Writer } from '../lib/types.js';

class PgeventsInsertSystem implements SystemUnderTest {
  readonly id = 'pgevents_insert';
  readonly label = 'pgevents INSERT';
  readonly projects = true;
  readonly unsupported = {};

  constructor(private readonly ctx: SystemContext) {}

  setup(): Promise<void> {
    return setupPgevents(this.ctx.databaseUrl);
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
    return rebuildPgevents(this.ctx.databaseUrl);
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
    "pgevents via plain SQL: INSERT/COPY into pgevents.events; the same users projection (the seed's functions, search_path pinned) defined with define_projection; replay_projection; set-based rebuild = rebuild_projection through the projection's set-based statement.",
  create: (ctx) => new PgeventsInsertSystem(ctx),
};
