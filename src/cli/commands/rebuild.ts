import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { RebuildProgress } from '../../index.js';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatTable } from '../output.js';
import { parseInteger } from '../parse.js';

interface RebuildCommandOptions {
  restart?: boolean;
  batchSize: string;
  lockTimeout: string;
  status?: boolean;
  cancel?: boolean;
}

/** A progress bar on stderr (a terminal, not --json) that shows the phase, the rate and the time left. */
function createRebuildBar(projection: string, enabled: boolean) {
  if (!enabled || !process.stderr.isTTY) return { update(_progress: RebuildProgress) {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `rebuild ${projection} [{bar}] {percentage}% | {value}/{total} events | {phase} | {rate} events/s | {eta_text}`,
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(progress: RebuildProgress) {
      const payload = {
        phase: progress.phase.replace('_', ' '),
        rate: progress.eventsPerSecond === null ? '-' : Math.round(progress.eventsPerSecond),
        eta_text: progress.etaSeconds === null ? '' : `${Math.ceil(progress.etaSeconds)} s left`,
      };
      if (!started) {
        bar.start(Math.max(progress.total, 1), progress.applied, payload);
        started = true;
      }
      bar.setTotal(Math.max(progress.total, 1));
      bar.update(progress.applied, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

function progressRow(progress: RebuildProgress) {
  return {
    projection: progress.projection,
    phase: progress.phase,
    path: progress.path,
    round: progress.round,
    applied: progress.applied,
    total: progress.total,
    percent: progress.percent,
    'events/s': progress.eventsPerSecond,
    'eta s': progress.etaSeconds,
    started: progress.startedAt,
    finished: progress.finishedAt,
    error: progress.error?.message ?? null,
  };
}

export function defineRebuild(program: Command): void {
  program
    .command('rebuild')
    .description('rebuild a projection online: shadow tables built in batches, caught up, then swapped in (resumes an interrupted one)')
    .argument('<projection>', 'projection name')
    .option('--restart', 'start over instead of resuming an unfinished rebuild')
    .option('--batch-size <n>', 'events per batch (one transaction each)', '5000')
    .option('--lock-timeout <ms>', 'how long the swap waits for each lock before it catches up and tries again', '500')
    .option('--status', 'show the progress of the current (or last) rebuild instead of running one')
    .option('--cancel', 'abandon an unfinished rebuild (drops its shadow tables; the live tables stay)')
    .action(
      action(async (context, projection: string, options: RebuildCommandOptions) => {
        const batchSize = parseInteger('--batch-size', options.batchSize, 1) ?? 5000;
        const lockTimeoutMs = parseInteger('--lock-timeout', options.lockTimeout, 1) ?? 500;
        if (options.status) {
          const [progress] = await withStore(context, (store) => store.rebuildProgress(projection));
          context.out.result(progress ?? null, () => {
            context.out.line(progress ? formatTable([progressRow(progress)]) : `no rebuild of ${projection} has run`);
          });
          return ExitCode.ok;
        }
        if (options.cancel) {
          const cancelled = await withStore(context, (store) => store.cancelRebuild(projection));
          context.out.result({ projection, cancelled }, () => {
            context.out.line(cancelled ? `cancelled the rebuild of ${projection}` : `no unfinished rebuild of ${projection}`);
          });
          return ExitCode.ok;
        }
        const bar = createRebuildBar(projection, !context.out.json);
        const result = await withStore(context, async (store) => {
          try {
            return await store.rebuild(projection, {
              restart: options.restart === true,
              batchSize,
              lockTimeoutMs,
              onProgress: (progress) => bar.update(progress),
            });
          } finally {
            bar.stop();
          }
        });
        context.out.result(result, () => {
          const rate = result.eventsPerSecond === null ? '' : `, ${Math.round(result.eventsPerSecond)} events/s`;
          context.out.line(
            `rebuilt ${projection} (${result.path === 'statement' ? 'rebuild statement' : 'handlers'}): ` +
              `${result.applied} events in ${result.seconds.toFixed(2)} s${rate}, ` +
              `${result.rounds} catch-up round${result.rounds === 1 ? '' : 's'}, swapped in ${result.swapAttempts} attempt${result.swapAttempts === 1 ? '' : 's'}`,
          );
        });
        return ExitCode.ok;
      }),
    );
}
