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
          context.out.line(
            result.applied.length === 0
              ? `schema ${result.schema} is up to date (migration ${result.version})`
              : `applied ${result.applied.join(', ')} to schema ${result.schema} (now at migration ${result.version})`,
          );
        });
        return ExitCode.ok;
      }),
    );
}
