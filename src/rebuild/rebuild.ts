import { setTimeout as delay } from 'node:timers/promises';
import type { Executor, Queryable } from '../db/executor.js';
import { toDate, toDateOrNull, toInteger, toJson } from '../db/normalize.js';
import { translateError } from '../db/translate-error.js';
import { PgEventsError, RebuildFailedError, SwapTimeoutError } from '../errors.js';
import { assertProjectionName } from '../projections/projections.js';
import { assertInteger } from '../store/validate.js';
import type { RebuildError, RebuildOptions, RebuildPhase, RebuildProgress, RebuildResult } from '../types.js';

function toNumberOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** Maps a row of the rebuild_progress view (or a function returning its type). */
export function toRebuildProgress(row: Record<string, unknown>): RebuildProgress {
  const error = row.error === null || row.error === undefined ? null : toJson<Record<string, unknown>>(row.error);
  return {
    projection: String(row.projection),
    phase: row.phase as RebuildPhase,
    path: row.path as RebuildProgress['path'],
    round: toInteger(row.round),
    applied: toInteger(row.applied),
    total: toInteger(row.total),
    percent: Number(row.percent),
    eventsPerSecond: toNumberOrNull(row.events_per_second),
    etaSeconds: toNumberOrNull(row.eta_seconds),
    version: toInteger(row.version),
    error: error
      ? ({
          sqlState: String(error.sqlstate ?? ''),
          message: String(error.message ?? ''),
          detail: typeof error.detail === 'string' && error.detail ? error.detail : null,
          hint: typeof error.hint === 'string' && error.hint ? error.hint : null,
        } satisfies RebuildError)
      : null,
    startedAt: toDate(row.started_at),
    updatedAt: toDate(row.updated_at),
    finishedAt: toDateOrNull(row.finished_at),
  };
}

/** The error a failed rebuild recorded, as the error the failing statement would have raised. */
function failureOf(schema: string, progress: RebuildProgress): Error {
  const recorded = progress.error;
  const message = recorded?.message || `Rebuild of projection ${progress.projection} failed`;
  const translated = translateError(
    { code: recorded?.sqlState ?? '', message, detail: recorded?.detail ?? undefined, hint: recorded?.hint ?? undefined },
    schema,
  );
  if (translated instanceof PgEventsError) return translated;
  return new RebuildFailedError(progress.projection, recorded?.sqlState ?? '', message, {
    hint: recorded?.hint ?? `Fix the cause, then run the rebuild again: it resumes where it stopped.`,
  });
}

function isRetryableSwapError(error: unknown): boolean {
  return error instanceof SwapTimeoutError || (error as { code?: unknown } | null)?.code === '40P01';
}

/**
 * rebuild_start in a REPEATABLE READ transaction (the fast path's statement reads with the
 * transaction's snapshot). Another process working on the same rebuild may update its row after
 * that snapshot was taken, which fails the start with a serialization error: then it is retried.
 */
async function startRebuild(executor: Executor, schema: string, name: string, restart: boolean): Promise<RebuildProgress> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await executor.transaction(async (tx) => {
        await tx.query('set transaction isolation level repeatable read');
        const [row] = await tx.query(`select * from ${schema}.rebuild_start($1, $2)`, [name, restart]);
        return toRebuildProgress(row ?? {});
      });
    } catch (error) {
      if ((error as { code?: unknown } | null)?.code !== '40001' || attempt >= 5) throw error;
    }
  }
}

/**
 * Rebuilds a projection online: rebuild_start (in a REPEATABLE READ transaction, which the fast
 * path needs), rebuild_step batches until the shadow tables have caught up, then rebuild_swap,
 * retried after catching up again when its locks are not granted in time. Each call is a
 * transaction of its own, so an interrupted rebuild loses at most one batch and resumes.
 */
export async function rebuildProjection(
  executor: Executor,
  schema: string,
  name: string,
  options: RebuildOptions = {},
): Promise<RebuildResult> {
  assertProjectionName(name);
  const batchSize = assertInteger('batchSize', options.batchSize ?? 5000, 1, 1_000_000);
  const lockTimeoutMs = assertInteger('lockTimeoutMs', options.lockTimeoutMs ?? 500, 1, 600_000);
  const swapAttempts = assertInteger('swapAttempts', options.swapAttempts ?? 10, 1, 1000);
  const started = performance.now();

  let progress = await startRebuild(executor, schema, name, options.restart === true);
  options.onProgress?.(progress);

  let attempts = 0;
  for (;;) {
    if (progress.phase === 'failed') throw failureOf(schema, progress);
    if (progress.phase === 'done') break;
    if (progress.phase === 'swapping') {
      attempts += 1;
      try {
        const [row] = await executor.query(`select * from ${schema}.rebuild_swap($1, $2)`, [name, `${lockTimeoutMs}ms`]);
        progress = toRebuildProgress(row ?? {});
        options.onProgress?.(progress);
        continue;
      } catch (error) {
        if (!isRetryableSwapError(error) || attempts >= swapAttempts) throw error;
        await delay(Math.min(50 * 2 ** attempts, 2000));
      }
    }
    const [row] = await executor.query(`select * from ${schema}.rebuild_step($1, $2)`, [name, batchSize]);
    progress = toRebuildProgress(row ?? {});
    options.onProgress?.(progress);
  }
  return {
    projection: name,
    path: progress.path,
    applied: progress.applied,
    rounds: progress.round,
    seconds: (performance.now() - started) / 1000,
    eventsPerSecond: progress.eventsPerSecond,
    swapAttempts: attempts,
  };
}

/** The progress of the current (or last) rebuild of a projection, or of every rebuild. */
export async function rebuildProgress(db: Queryable, schema: string, name?: string): Promise<RebuildProgress[]> {
  if (name !== undefined) assertProjectionName(name);
  const rows = await db.query(
    `select * from ${schema}.rebuild_progress where $1::text is null or projection = $1 order by projection`,
    [name ?? null],
  );
  return rows.map(toRebuildProgress);
}

/** Abandons an unfinished rebuild (its shadow tables are dropped); returns whether there was one. */
export async function cancelRebuild(db: Queryable, schema: string, name: string): Promise<boolean> {
  assertProjectionName(name);
  const [row] = await db.query<{ cancelled: boolean }>(`select ${schema}.rebuild_cancel($1) as cancelled`, [name]);
  return row?.cancelled === true;
}
