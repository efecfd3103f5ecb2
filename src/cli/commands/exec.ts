import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../index.js';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';

async function readScript(file: string): Promise<string> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new InvalidArgumentError('file', `Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function defineExec(program: Command): void {
  program
    .command('exec')
    .description('run an SQL file against the store, with its schema on the search_path (- reads stdin)')
    .argument('<file>', 'SQL file, or - for standard input')
    .action(
      action(async (context, file: string) => {
        const sql = await readScript(file);
        await withStore(context, (store) => store.execScript(sql));
        context.out.result({ file, ok: true }, () => context.out.line(`ran ${file}`));
        return ExitCode.ok;
      }),
    );
}
