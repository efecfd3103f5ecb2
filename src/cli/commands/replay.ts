import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { parseInteger } from '../parse.js';
import { createProgressBar } from '../progress.js';

interface ReplayCommandOptions {
  stream?: string;
  type?: string[];
  fromPosition?: string;
  batchSize: string;
}

export function defineReplay(program: Command): void {
  program
    .command('replay')
    .description('re-apply stored events through a projection, atomically (all, one stream, by type, from a position)')
    .argument('<projection>', 'projection name')
    .option('--stream <uuid>', "replay one stream: its rows are rebuilt, other streams' rows stay")
    .option('--type <type...>', 're-apply only events of these types (nothing is cleared)')
    .option('--from-position <n>', 're-apply only events at or after this position (nothing is cleared)')
    .option('--batch-size <n>', 'events per round trip', '5000')
    .action(
      action(async (context, projection: string, options: ReplayCommandOptions) => {
        const fromPosition = parseInteger('--from-position', options.fromPosition, 1);
        const batchSize = parseInteger('--batch-size', options.batchSize, 1) ?? 5000;
        const bar = createProgressBar(`replay ${projection}`, !context.out.json);
        const started = performance.now();
        const result = await withStore(context, async (store) => {
          try {
            return await store.replay(projection, {
              ...(options.stream ? { stream: options.stream } : {}),
              ...(options.type ? { types: options.type } : {}),
              ...(fromPosition === undefined ? {} : { fromPosition }),
              batchSize,
              onProgress: ({ applied, total }) => bar.update(applied, total),
            });
          } finally {
            bar.stop();
          }
        });
        const seconds = (performance.now() - started) / 1000;
        context.out.result({ ...result, seconds }, () => {
          context.out.line(`replayed ${result.applied} events through ${projection} in ${seconds.toFixed(2)} s`);
        });
        return ExitCode.ok;
      }),
    );
}
