import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { parseExpectedVersion, parseInteger, parseJsonObjectArgument } from '../parse.js';

interface AppendOptions {
  expectedVersion?: string;
  metadata?: string;
  id?: string;
  typeVersion?: string;
}

export function defineAppend(program: Command): void {
  program
    .command('append')
    .description('append one event to a stream')
    .argument('<stream>', 'stream id (uuid of the entity)')
    .argument('<type>', 'event type, e.g. user_create')
    .argument('<body>', 'event body as a JSON object')
    .option('--expected-version <version>', 'any, no_stream, stream_exists or the exact current version', 'any')
    .option('--metadata <json>', 'event metadata as a JSON object')
    .option('--id <uuid>', 'event id, for idempotent retries')
    .option('--type-version <n>', 'the version of the type\'s shape the body has (default: the current one; an older one is upcast or refused)')
    .action(
      action(async (context, stream: string, type: string, bodyText: string, options: AppendOptions) => {
        const body = parseJsonObjectArgument('body', bodyText);
        const metadata = options.metadata === undefined ? undefined : parseJsonObjectArgument('--metadata', options.metadata);
        const expectedVersion = parseExpectedVersion(options.expectedVersion);
        const typeVersion = parseInteger('--type-version', options.typeVersion, 1);
        const result = await withStore(context, (store) =>
          store.append(
            stream,
            [{ type, body, ...(metadata ? { metadata } : {}), ...(options.id ? { id: options.id } : {}), ...(typeVersion === undefined ? {} : { typeVersion }) }],
            expectedVersion === undefined ? {} : { expectedVersion },
          ),
        );
        context.out.result(result, () => {
          const [event] = result.events;
          context.out.line(`appended ${type} to ${stream}: version ${event?.version}, position ${event?.position}, id ${event?.eventId}`);
        });
        return ExitCode.ok;
      }),
    );
}
