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
    .action(
      action(async (context, count: string) => {
        const partitions = parseInteger('partitions', count, 0)!;
        const result = await withStore(context, async (store) => {
          const [size] = await store.query(`select count(*) as events from ${store.schema}.events`);
          const current = await store.eventPartitions();
          if (current !== partitions) {
            if (!context.out.json) process.stderr.write(`moving ${String(size?.events ?? 0)} events from ${current === 0 ? 'one table' : `${current} partitions`} to ` +
              `${partitions === 0 ? 'one table' : `${partitions} partitions`}; the log is locked until it is done…\n`);
          }
          return store.partitionEvents(partitions);
        });
        context.out.result(result, () => {
          if (result.events === null) {
            context.out.line(`the events table already has ${result.partitions === 0 ? 'no partitions' : `${result.partitions} partitions`}: nothing moved`);
          } else {
            context.out.line(
              `moved ${result.events} events to ${result.partitions === 0 ? 'one table' : `${result.partitions} partitions`} ` +
                `(from ${result.previous === 0 ? 'one table' : result.previous}); ${result.dependents} functions and views created again; ` +
                `the log was locked ${result.lockedMs} ms`,
            );
          }
        });
        return ExitCode.ok;
      }),
    );
}
