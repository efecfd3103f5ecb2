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
    .action(
      action(async (context, options: { partitions?: string }) => {
        const partitions = parseInteger('partitions', options.partitions, 0);
        const result = await withStore(
          context,
          async (store) => {
            const migrated = await store.migrate();
            if (partitions === undefined) return migrated;
            const moved = await settleEventLayout(store, partitions);
            return { ...migrated, partitions, ...(moved ? { partitioned: true } : {}) };
          },
          { migrate: false },
        );
        context.out.result(result, () => {
          if ('partitioned' in result) context.out.line(`events table of ${result.schema}: ${result.partitions === 0 ? 'one table' : `${result.partitions} partitions by stream`}`);
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
