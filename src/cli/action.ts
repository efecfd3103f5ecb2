import type { Command } from 'commander';
import { createContext, type CommandContext, type GlobalOptions } from './context.js';
import { describeError, exitCodeFor } from './exit-codes.js';

type Handler<Args extends unknown[]> = (context: CommandContext, ...args: Args) => Promise<number>;

/**
 * Wraps a command handler: builds its context from the global options, turns its result into the
 * process exit code, and reports errors in one readable line (JSON with --json).
 */
export function action<Args extends unknown[]>(handler: Handler<Args>) {
  return async function run(this: Command, ...args: unknown[]): Promise<void> {
    const options = this.optsWithGlobals<GlobalOptions>();
    const context = createContext(options);
    try {
      // commander passes the positional arguments, then the options object, then the command.
      process.exitCode = await handler(context, ...(args.slice(0, -1) as Args));
    } catch (error) {
      process.exitCode = exitCodeFor(error);
      const described = describeError(error);
      if (context.out.json) {
        process.stdout.write(`${JSON.stringify({ error: described }, null, 2)}\n`);
      } else {
        process.stderr.write(`pgevents: ${described.message}\n`);
        if (described.hint) process.stderr.write(`hint: ${described.hint}\n`);
      }
      if (process.env.PGEVENTS_DEBUG === '1' && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    }
  };
}
