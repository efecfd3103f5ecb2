import type { Command } from 'commander';
import { formatCursor, type StoredEvent } from '../../index.js';
import { action } from '../action.js';
import { ExitCode } from '../exit-codes.js';
import { parseInteger } from '../parse.js';

interface TailOptions {
  from: string;
  type?: string[];
  limit?: string;
  batchSize: string;
}

function cursorOf(event: StoredEvent): string {
  return formatCursor({ transactionId: event.transactionId, position: event.position });
}

export function defineTail(program: Command): void {
  program
    .command('tail')
    .description('print events as their transactions commit, in the gap-safe order, until interrupted (Ctrl-C)')
    .option('--from <where>', "'start', 'end' (only new events) or a cursor", 'end')
    .option('--type <type...>', 'only events of these types')
    .option('--limit <n>', 'exit after printing this many events')
    .option('--batch-size <n>', 'events per read', '100')
    .action(
      action(async (context, options: TailOptions) => {
        const limit = parseInteger('--limit', options.limit, 1);
        const batchSize = parseInteger('--batch-size', options.batchSize, 1) ?? 100;
        const store = await context.openStore();
        let printed = 0;
        let finish: () => void = () => undefined;
        const finished = new Promise<void>((resolve) => {
          finish = resolve;
        });
        const print = (event: StoredEvent) => {
          if (context.out.json) {
            // One JSON document per line, so that the output can be piped while it streams.
            process.stdout.write(`${JSON.stringify({ cursor: cursorOf(event), ...event })}\n`);
          } else {
            context.out.line(
              `${cursorOf(event)}  ${event.insertedAt.toISOString()}  ${event.type}  ${event.stream}@${event.version}  ${JSON.stringify(event.body)}`,
            );
          }
        };
        try {
          const follower = await store.follow({
            from: options.from,
            ...(options.type ? { types: options.type } : {}),
            batchSize,
            handler: (events) => {
              for (const event of events) {
                if (limit !== undefined && printed >= limit) break;
                print(event);
                printed += 1;
              }
              if (limit !== undefined && printed >= limit) finish();
            },
            onError: (error) => {
              if (!context.out.json) process.stderr.write(`pgevents: ${error instanceof Error ? error.message : String(error)} (retrying)\n`);
            },
          });
          process.once('SIGINT', finish);
          process.once('SIGTERM', finish);
          try {
            await finished;
          } finally {
            process.off('SIGINT', finish);
            process.off('SIGTERM', finish);
            await follower.stop();
          }
        } finally {
          await store.close();
        }
        return ExitCode.ok;
      }),
    );
}
