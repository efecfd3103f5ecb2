import type { Command } from 'commander';
import { backupEmbeddedStore, restoreEmbeddedStore } from '../../db/backup.js';
import { InvalidArgumentError } from '../../errors.js';
import { action } from '../action.js';
import type { CommandContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';

function embeddedOnly(context: CommandContext, what: string): string {
  const dataDir = context.embeddedDataDir();
  if (dataDir === null) {
    throw new InvalidArgumentError('databaseUrl', `pgevents ${what} works on the embedded store (--data-dir), not on a server`, {
      hint: 'Back a server up with pg_dump (or pg_basebackup); leave --database-url and DATABASE_URL out to name an embedded store.',
    });
  }
  return dataDir;
}

export function defineBackup(program: Command): void {
  program
    .command('backup')
    .argument('<file>', 'where to write the backup (a new file)')
    .description('write a consistent copy of the embedded store (--data-dir) to a file; the store must not be open elsewhere meanwhile')
    .action(
      action(async (context, file: string) => {
        const result = await backupEmbeddedStore(embeddedOnly(context, 'backup'), file);
        context.out.result(result, () => context.out.line(`backed up ${result.dataDir} to ${result.file} (${result.bytes} bytes)`));
        return ExitCode.ok;
      }),
    );
  program
    .command('restore')
    .argument('<file>', 'a file written by pgevents backup')
    .description('restore a backup into a new (or empty) data directory (--data-dir); never overwrites a store')
    .action(
      action(async (context, file: string) => {
        const result = await restoreEmbeddedStore(file, embeddedOnly(context, 'restore'));
        context.out.result(result, () => context.out.line(`restored ${result.file} into ${result.dataDir}`));
        return ExitCode.ok;
      }),
    );
}
