import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatTable } from '../output.js';
import { parseInteger } from '../parse.js';

export function defineRead(program: Command): void {
  program
    .command('read')
    .description("read a stream's events in version order")
    .argument('<stream>', 'stream id (uuid)')
    .option('--from-version <n>', 'first version to read', '1')
    .option('--limit <n>', 'at most this many events', '1000')
    .option('--include-archived', 'read an archived stream too (else it is refused)')
    .action(
      action(async (context, stream: string, options: { fromVersion: string; limit: string; includeArchived?: boolean }) => {
        const fromVersion = parseInteger('--from-version', options.fromVersion, 1) ?? 1;
        const limit = parseInteger('--limit', options.limit, 1) ?? 1000;
        const events = await withStore(context, (store) => store.readStream(stream, { fromVersion, limit, includeArchived: options.includeArchived === true }));
        context.out.result(events, () => {
          context.out.line(
            formatTable(
              events.map((event) => ({ ...event, insertedAt: event.insertedAt.toISOString() })),
              ['version', 'position', 'type', 'body', 'metadata', 'insertedAt', 'eventId'],
            ),
          );
        });
        return ExitCode.ok;
      }),
    );
}
