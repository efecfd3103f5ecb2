import type { Executor, Queryable } from '../db/executor.js';
import { toInteger } from '../db/normalize.js';
import { ReplayRefusedError, SchemaNotInstalledError } from '../errors.js';
import type { ReplayOptions, ReplayResult } from '../types.js';
import type { SubscriptionRunner } from './runner.js';

/** Whether name is an async projection (false on a schema older than subscriptions). */
export async function isAsyncProjection(db: Queryable, schema: string, name: string): Promise<boolean> {
  try {
    const [row] = await db.query(`select 1 from ${schema}.subscriptions where name = $1 and kind = 'projection'`, [name]);
    return row !== undefined;
  } catch (error) {
    if (error instanceof SchemaNotInstalledError) return false;
    throw error;
  }
}

/**
 * Replays an async projection: empties its tables and moves its checkpoint to the start in one
 * transaction (reset_subscription), then, when this process runs it, waits until it has caught up
 * again. Run by another process, the replay is `deferred`: that process applies the events.
 * @throws {ReplayRefusedError} for a partial replay (one stream, some types, from a position).
 */
export async function replayAsyncProjection(
  executor: Executor,
  schema: string,
  name: string,
  runner: SubscriptionRunner | undefined,
  options: ReplayOptions,
): Promise<ReplayResult> {
  if (options.stream !== undefined || (options.types && options.types.length > 0) || options.fromPosition !== undefined) {
    throw new ReplayRefusedError(`Async projection ${name} replays in full only: its checkpoint is one place in the whole log`, {
      hint: `Replay it without stream, types or fromPosition: pgevents replay ${name}`,
    });
  }
  const running = runner !== undefined && runner.state !== 'waiting' && runner.state !== 'stopped' && runner.state !== 'stopping';
  let handled = 0;
  let total = 0;
  const unsubscribe = running
    ? runner.onBatch((count) => {
        handled += count;
        options.onProgress?.({ applied: Math.min(handled, total), total });
      })
    : () => undefined;
  try {
    await executor.query(`select 1 from ${schema}.reset_subscription($1, 'start')`, [name]);
    if (!running) return { projection: name, applied: 0, deferred: true };
    handled = 0;
    const [counted] = await executor.query<{ total: unknown }>(
      `select count(*) as total from ${schema}.events e, ${schema}.subscriptions s
        where s.name = $1 and e.type = any(s.types)`,
      [name],
    );
    total = toInteger(counted?.total ?? 0);
    options.onProgress?.({ applied: 0, total });
    await runner.caughtUp();
  } finally {
    unsubscribe();
  }
  // Exactly the events applied since the reset: those of its types up to its checkpoint.
  const [applied] = await executor.query<{ applied: unknown }>(
    `select count(*) as applied from ${schema}.events e, ${schema}.subscriptions s
      where s.name = $1 and e.type = any(s.types) and (e.transaction_id, e.id) <= (s.transaction_id, s."position")`,
    [name],
  );
  const result = toInteger(applied?.applied ?? 0);
  options.onProgress?.({ applied: result, total: Math.max(total, result) });
  return { projection: name, applied: result };
}
