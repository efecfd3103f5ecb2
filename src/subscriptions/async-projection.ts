import { InvalidArgumentError } from '../errors.js';
import { assertProjectionName } from '../projections/projections.js';
import type { AsyncProjectionOptions } from '../types.js';
import { assertHandler, readerSettings, retrySettings } from './options.js';
import type { RunnerDefinition } from './runner.js';
import { takeoverSettings } from './subscribe.js';

/**
 * What `store.startAsyncProjection` runs: a transactional subscription of the handled event types
 * that calls each event's handler with the transaction that also saves the checkpoint, so that the
 * read model and the checkpoint always agree.
 * @throws {InvalidArgumentError}
 */
export function asyncProjectionDefinition(schema: string, options: AsyncProjectionOptions): RunnerDefinition {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'Invalid projection options');
  assertProjectionName(options.name);
  const handlers = options.handlers;
  if (typeof handlers !== 'object' || handlers === null || Object.keys(handlers).length === 0) {
    throw new InvalidArgumentError('handlers', `Invalid projection ${options.name}: handlers must map event types to functions`);
  }
  for (const [type, handler] of Object.entries(handlers)) assertHandler(handler, `handlers.${type}`);
  const tables = options.tables ?? [];
  if (!Array.isArray(tables) || !tables.every((table) => typeof table === 'string' && table.length > 0)) {
    throw new InvalidArgumentError('tables', `Invalid projection ${options.name}: tables must be table names`);
  }
  const settings = readerSettings({ ...options, from: 'start', types: Object.keys(handlers) });
  return {
    name: options.name,
    kind: 'projection',
    transactional: true,
    async handler(events, tx) {
      for (const event of events) await handlers[event.type]?.(event, tx!);
    },
    settings,
    retry: retrySettings(options.retry),
    ...takeoverSettings(options),
    async define(db) {
      await db.query(`select 1 from ${schema}.define_async_projection($1, $2::text[], $3::text[])`, [
        options.name,
        settings.types,
        tables,
      ]);
    },
  };
}
