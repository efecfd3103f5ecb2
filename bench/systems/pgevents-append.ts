/**
 * pgevents through its SQL function: `select … from pgevents.append_events(stream, events, 'any')`,
 * one call (one transaction) per batch, events without ids.
 */
import { AppendEventsWriter, connect } from '../lib/pg-writer.js';
import { bulkLoadPgevents, countsPgevents, onlineRebuildPgevents, setupPgevents } from '../lib/pgevents-server.js';
import type { BulkSource, Counts, SystemContext, SystemDescriptor, SystemUnderTest, Timed, Writer } from '../lib/types.js';

class PgeventsAppendSystem implements SystemUnderTest {
  readonly id = 'pgevents_append';
  readonly label = 'pgevents append_events';
  readonly projects = true;
  readonly unsupported = {
    bulk: 'append_events takes one stream per call; bulk loads go through pgevents import (its column) or COPY (pgevents INSERT column)',
    rebuild: 'see the pgevents INSERT column',
  };

  constructor(private readonly ctx: SystemContext) {}

  // The projection has no rebuild statement here, so that the replay row of this column measures
  // the online rebuild through the per-event handlers (the INSERT column's rebuild row measures
  // the online rebuild through the set-based statement).
  setup(): Promise<void> {
    return setupPgevents(this.ctx.databaseUrl, { rebuildStatement: false });
  }

  /** Loads the replay's data with COPY, untimed (this column has no bulk mode). */
  load(source: BulkSource): Promise<Timed> {
    return bulkLoadPgevents(this.ctx.databaseUrl, source);
  }

  replay(): Promise<Timed> {
    return onlineRebuildPgevents(this.ctx.databaseUrl);
  }

  async openWriter(): Promise<Writer> {
    return new AppendEventsWriter(await connect(this.ctx.databaseUrl));
  }

  counts(): Promise<Counts> {
    return countsPgevents(this.ctx.databaseUrl);
  }

  async close(): Promise<void> {}
}

export const pgeventsAppend: SystemDescriptor = {
  id: 'pgevents_append',
  label: 'pgevents append_events',
  description:
    "pgevents via its SQL function append_events(stream, events jsonb, 'any'), one call per transaction; its replay row is the online rebuild (call rebuild_projection) through the per-event handlers, on a projection without a rebuild statement.",
  create: (ctx) => new PgeventsAppendSystem(ctx),
};
