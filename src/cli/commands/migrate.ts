import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';

export function defineMigrate(program: Command): void {
  program
    .command('migrate')
    .description('install or upgrade the event store schema (idempotent, safe to run concurrently)')
    .action(
      action(async (context) => {
        const result = await withStore(context, (store) => store.migrate(), { migrate: false });
        context.out.result(result, () => {
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
