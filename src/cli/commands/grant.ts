import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function defineGrant(program: Command): void {
  program
    .command('grant')
    .description('give existing roles least-privilege access: writers append and read, readers read')
    .option('--writer <role>', 'a role that appends (API and plain INSERT) and reads; repeatable', collect, [])
    .option('--reader <role>', 'a role that reads events and read models; repeatable', collect, [])
    .action(
      action(async (context, options: { writer: string[]; reader: string[] }) => {
        await withStore(context, (store) => store.grant({ writers: options.writer, readers: options.reader }));
        const result = { writers: options.writer, readers: options.reader };
        context.out.result(result, () => {
          for (const role of options.writer) context.out.line(`granted writer access to ${role}`);
          for (const role of options.reader) context.out.line(`granted reader access to ${role}`);
        });
        return ExitCode.ok;
      }),
    );
}
