import type { Executor } from '../db/executor.js';
import { InvalidArgumentError } from '../errors.js';
import { toInteger } from '../db/normalize.js';
import { assertProjectionName } from '../projections/projections.js';
import { assertInteger, assertStream } from '../store/validate.js';
import type { ReplayOptions, ReplayResult } from '../types.js';

/**
 * Replays a projection in one transaction, in batches so that progress can be reported:
 * replay_start (lock, clear, count), then replay_step until it applies nothing. Readers of the
 * projection's tables keep reading the previous rows until the transaction commits (a full replay
 * clears them with DELETE; see clear_projection_tables in sql/replay/replay_start.sql).
 */
export async function replayProjection(
  executor: Executor,
  schema: string,
  name: string,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  assertProjectionName(name);
  if (options.stream !== undefined) assertStream(options.stream);
  const fromPosition = options.fromPosition === undefined ? null : assertInteger('fromPosition', options.fromPosition, 1);
  const batchSize = assertInteger('batchSize', options.batchSize ?? 5000, 1, 1_000_000);
  const stream = options.stream ?? null;
  if (options.types !== undefined && options.types.length === 0) {
    // An empty filter must not silently become "every type", which would empty the tables.
    throw new InvalidArgumentError('types', 'Invalid types: name at least one event type, or leave types out', {
      hint: 'Leave types out to replay every event the projection handles.',
    });
  }
  const types = options.types ?? null;

  return executor.transaction(async (tx) => {
    const [started] = await tx.query<{ total: unknown }>(
      `select ${schema}.replay_start($1, $2::uuid, $3::text[], $4) as total`,
      [name, stream, types, fromPosition],
    );
    const total = toInteger(started?.total ?? 0);
    let applied = 0;
    let after = (fromPosition ?? 1) - 1;
    options.onProgress?.({ applied, total });
    for (;;) {
      const [step] = await tx.query<{ applied: unknown; last_position: unknown }>(
        `select applied, last_position from ${schema}.replay_step($1, $2, $3, $4::uuid, $5::text[])`,
        [name, after, batchSize, stream, types],
      );
      const stepApplied = toInteger(step?.applied ?? 0);
      if (stepApplied === 0) break;
      applied += stepApplied;
      after = toInteger(step?.last_position ?? after);
      options.onProgress?.({ applied, total: Math.max(total, applied) });
    }
    return { projection: name, applied };
  });
}
