import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { parseInteger } from '../parse.js';

export function definePartition(program: Command): void {
  program
    .command('partition')
    .description(
      'move the events table to <count> partitions by a hash of the stream (0: back to one table), keeping every event, ' +
        'position, projection and privilege; locks the log (appends and reads wait) while it copies the events; owner only (see docs/scale-out.md)',
    )
    .argument('<count>', 'the number of partitions: 0, or 2 to 1024')
    .option('--archive-partition', "keep archived streams' events in a partition of their own, out of the live events' indexes")
    .option('--no-archive-partition', 'no archive partition (default: as now)')
    .action(
      action(async (context, count: string, options: { archivePartition?: boolean }) => {
        const partitions = parseInteger('partitions', count, 0)!;
        const result = await withStore(context, async (store) => {
          const [size] = await store.query(`select count(*) as events from ${store.schema}.events`);
          const layout = await store.eventLayout();
          const current = layout.partitions;
          if (current !== partitions || (options.archivePartition !== undefined && options.archivePartition !== layout.archive)) {
            if (!context.out.json) process.stderr.write(`moving ${String(size?.events ?? 0)} events from ${current === 0 ? 'one table' : `${current} partitions`} to ` +
              `${partitions === 0 ? 'one table' : `${partitions} partitions`}; the log is locked until it is done…\n`);
          }
          return store.partitionEvents(partitions, options.archivePartition === undefined ? {} : { archivePartition: options.archivePartition });
        });
        context.out.result(result, () => {
          if (result.events === null) {
            context.out.line(`the events table already has ${result.partitions === 0 ? 'no partitions' : `${result.partitions} partitions`}${result.archive ? ' and an archive partition' : ''}: nothing moved`);
          } else {
            context.out.line(
              `moved ${result.events} events to ${result.partitions === 0 ? 'one table' : `${result.partitions} partitions`}${result.archive ? ' with an archive partition' : ''} ` +
                `(from ${result.previous === 0 ? 'one table' : result.previous}); ${result.dependents} functions and views created again; ` +
                `the log was locked ${result.lockedMs} ms`,
            );
          }
        });
        return ExitCode.ok;
      }),
    );
}
