import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { parseInteger } from '../parse.js';
import { settleEventLayout } from '../../store/partitions.js';

export function defineMigrate(program: Command): void {
  program
    .command('migrate')
    .description('install or upgrade the event store schema (idempotent, safe to run concurrently)')
    .option('--partitions <count>', 'a new store: partition its events table by a hash of the stream (2 to 1024; 0: one table); a store with events is refused (move it with `pgevents partition`)')
    .option('--archive-partition', "with --partitions: keep archived streams' events in a partition of their own, out of the live events' indexes")
    .action(
      action(async (context, options: { partitions?: string; archivePartition?: boolean }) => {
        const partitions = parseInteger('partitions', options.partitions, 0);
        const result = await withStore(
          context,
          async (store) => {
            const migrated = await store.migrate();
            if (partitions === undefined) return migrated;
            const archivePartition = options.archivePartition === true;
            const moved = await settleEventLayout(store, partitions, { archivePartition });
            return { ...migrated, partitions, archivePartition, ...(moved ? { partitioned: true } : {}) };
          },
          { migrate: false },
        );
        context.out.result(result, () => {
          if ('partitioned' in result) {
            context.out.line(`events table of ${result.schema}: ${result.partitions === 0 ? 'one table' : `${result.partitions} partitions by stream`}${result.archivePartition ? ', and an archive partition' : ''}`);
          }
          if (result.applied.length > 0) {
            context.out.line(`applied ${result.applied.join(', ')} to schema ${result.schema} (now at migration ${result.version})`);
          } else if (result.definitions) {
            context.out.line(`applied the changed definitions of functions, views and triggers to schema ${result.schema} (migration ${result.version})`);
          } else {
            context.out.line(`schema ${result.schema} is up to date (migration ${result.version})`);
          }
        });
        return ExitCode.ok;
      }),
    );
}
