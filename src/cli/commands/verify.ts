import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { parseInteger } from '../parse.js';

interface VerifyCommandOptions {
  ignoreColumn: string[];
  samples: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function defineVerify(program: Command): void {
  program
    .command('verify')
    .description('rebuild a projection into a scratch copy and report how its live tables differ (exit code 4 when they do)')
    .argument('<projection>', 'projection name')
    .option('--ignore-column <column>', 'leave a column out of the comparison (e.g. one set by now()); repeatable', collect, [])
    .option('--samples <n>', 'example rows shown per kind of difference and table', '5')
    .action(
      action(async (context, projection: string, options: VerifyCommandOptions) => {
        const sampleSize = parseInteger('--samples', options.samples, 0) ?? 5;
        const result = await withStore(context, (store) =>
          store.verify(projection, { ignoreColumns: options.ignoreColumn, sampleSize }),
        );
        context.out.result(result, () => {
          const { out } = context;
          for (const table of result.tables) {
            out.line(
              `${table.table}: ${table.liveRows} live rows, ${table.rebuiltRows} rebuilt: ` +
                `${table.missing} missing, ${table.extra} extra, ${table.different} different`,
            );
            for (const row of table.samples.missing) out.line(`  missing   ${JSON.stringify(row)}`);
            for (const row of table.samples.extra) out.line(`  extra     ${JSON.stringify(row)}`);
            for (const pair of table.samples.different) {
              out.line(`  different live    ${JSON.stringify(pair.live)}`);
              out.line(`            rebuilt ${JSON.stringify(pair.rebuilt)}`);
            }
          }
          out.line(result.equal ? `${projection} matches its events` : `${projection} differs from a rebuild of its events`);
        });
        return result.equal ? ExitCode.ok : ExitCode.differences;
      }),
    );
}
