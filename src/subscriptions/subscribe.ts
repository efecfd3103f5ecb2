import { InvalidArgumentError } from '../errors.js';
import { assertInteger } from '../store/validate.js';
import type { SqlClient, StoredEvent, SubscribeOptions } from '../types.js';
import { assertHandler, assertSubscriptionName, readerSettings, retrySettings } from './options.js';
import type { RunnerDefinition } from './runner.js';

/** @throws {InvalidArgumentError} */
export function takeoverSettings(options: { ifRunning?: unknown; takeoverIntervalMs?: number }): {
  ifRunning: 'wait' | 'fail';
  takeoverIntervalMs: number;
} {
  const ifRunning = options.ifRunning ?? 'wait';
  if (ifRunning !== 'wait' && ifRunning !== 'fail') {
    throw new InvalidArgumentError('ifRunning', `Invalid ifRunning: ${JSON.stringify(ifRunning)}`, { hint: "Use 'wait' or 'fail'." });
  }
  return { ifRunning, takeoverIntervalMs: assertInteger('takeoverIntervalMs', options.takeoverIntervalMs ?? 1000, 10, 3_600_000) };
}

/**
 * What `store.subscribe` runs: the options checked, and the row created by create_subscription.
 * @throws {InvalidArgumentError} for a bad name, batch size, cursor form, handler or option.
 */
export function subscriptionDefinition(schema: string, options: SubscribeOptions): RunnerDefinition {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'Invalid subscribe options');
  assertSubscriptionName(options.name);
  assertHandler(options.handler);
  if (options.transactional !== undefined && typeof options.transactional !== 'boolean') {
    throw new InvalidArgumentError('transactional', `Invalid transactional: ${JSON.stringify(options.transactional)} (true or false)`);
  }
  const settings = readerSettings(options);
  const transactional = options.transactional === true;
  const handler = options.handler as (events: StoredEvent[], tx?: SqlClient) => Promise<void> | void;
  return {
    name: options.name,
    kind: 'subscription',
    transactional,
    handler: (events, tx) => (transactional ? handler(events, tx) : handler(events)),
    settings,
    retry: retrySettings(options.retry),
    ...takeoverSettings(options),
    async define(db) {
      await db.query(`select 1 from ${schema}.create_subscription($1, $2, $3::text[])`, [options.name, settings.from, settings.types]);
    },
  };
}
