import { Command } from 'commander';
import { defineAppend } from './commands/append.js';
import { defineBackup } from './commands/backup.js';
import { defineDemo } from './commands/demo.js';
import { defineExec } from './commands/exec.js';
import { defineForget } from './commands/forget.js';
import { definePersonalData } from './commands/personal-data.js';
import { defineGrant } from './commands/grant.js';
import { defineImport } from './commands/import.js';
import { defineMetrics } from './commands/metrics.js';
import { defineMigrate } from './commands/migrate.js';
import { definePartition } from './commands/partition.js';
import { defineRead } from './commands/read.js';
import { defineRebuild } from './commands/rebuild.js';
import { defineReplay } from './commands/replay.js';
import { defineStatus } from './commands/status.js';
import { defineStreams } from './commands/streams.js';
import { defineSubscriptions } from './commands/subscriptions.js';
import { defineTail } from './commands/tail.js';
import { defineTenants } from './commands/tenants.js';
import { defineTypes } from './commands/types.js';
import { defineServe } from './commands/serve.js';
import { defineUi } from './commands/ui.js';
import { defineVerify } from './commands/verify.js';
import { ExitCode } from './exit-codes.js';

/** The `pgevents` command line. */
export function createProgram(version: string): Command {
  const program = new Command('pgevents')
    .description('PostgreSQL as a native event-sourcing database')
    .version(version)
    .option('--database-url <url>', 'PostgreSQL server (default: DATABASE_URL; without it, the embedded engine)')
    .option('--replica-url <url>', 'hot standby of the server for reads of the log (tail, the console) (default: PGEVENTS_REPLICA_URL)')
    .option('--data-dir <dir>', 'embedded engine data directory (default ./.pgevents)')
    .option('--schema <name>', 'schema that holds the event store (default pgevents)')
    .option('--tenant <name>', "a tenant's store: the schema <tenant prefix>_<name> (instead of --schema)")
    .option('--tenant-prefix <prefix>', 'schema prefix of the tenant stores (default tenant)')
    .option('--json', 'print results as JSON')
    .showHelpAfterError()
    .exitOverride((error) => {
      // Usage errors exit 2; --help and --version exit 0.
      process.exit(error.exitCode === 0 ? ExitCode.ok : ExitCode.usage);
    });

  defineMigrate(program);
  definePartition(program);
  defineTenants(program);
  defineAppend(program);
  defineImport(program);
  defineRead(program);
  defineStreams(program);
  defineForget(program);
  definePersonalData(program);
  defineReplay(program);
  defineRebuild(program);
  defineVerify(program);
  defineStatus(program);
  defineMetrics(program);
  defineTypes(program);
  defineBackup(program);
  defineTail(program);
  defineSubscriptions(program);
  defineExec(program);
  defineGrant(program);
  defineDemo(program);
  defineUi(program);
  defineServe(program);
  return program;
}
