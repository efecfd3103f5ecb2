import type { Command } from 'commander';
import type { StreamState } from '../../index.js';
import { action } from '../action.js';
import { type CommandContext, withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { parseInteger } from '../parse.js';

interface ReasonOptions {
  reason?: string;
}

function describe(state: StreamState): string[] {
  const lines = [
    `stream ${state.stream}: ${state.state}, version ${state.version}, ${state.events} events` +
      (state.firstVersion !== null && state.firstVersion > 1 ? ` (from version ${state.firstVersion}: truncated before it)` : ''),
  ];
  if (state.lastChange) {
    lines.push(`last change: ${state.lastChange.operation} at ${state.lastChange.at.toISOString()} by ${state.lastChange.by}: ${state.lastChange.reason}`);
  }
  return lines;
}

function printState(context: CommandContext, stream: string, state: StreamState | null, extra: Record<string, unknown> = {}): number {
  if (state === null) {
    context.out.result({ stream, state: null, ...extra }, () => context.out.line(`stream ${stream} has no events and was never tombstoned`));
    return ExitCode.failed;
  }
  context.out.result({ ...state, ...extra }, () => {
    for (const line of describe(state)) context.out.line(line);
  });
  return ExitCode.ok;
}

export function defineStreams(program: Command): void {
  const command = program
    .command('streams')
    .description("a stream's lifecycle: show its state; archive, unarchive or tombstone it; delete its events before a version");

  command
    .command('show')
    .description("a stream's state (live, archived, tombstoned), version, event count and last lifecycle change (exit code 1 for an unknown stream)")
    .argument('<stream>', 'stream id (uuid)')
    .action(
      action(async (context, stream: string) => printState(context, stream, await withStore(context, (store) => store.streamState(stream)))),
    );

  const lifecycle = [
    ['archive', 'archive a stream: its events stay in replays and subscriptions, plain reads and appends are refused until unarchive', 'archiveStream'],
    ['unarchive', 'make an archived stream live again', 'unarchiveStream'],
    ['tombstone', 'close a stream for ever: no append is accepted again and its id is never reused (owner only)', 'tombstoneStream'],
  ] as const;
  for (const [name, description, method] of lifecycle) {
    command
      .command(name)
      .description(description)
      .argument('<stream>', 'stream id (uuid)')
      .requiredOption('--reason <text>', 'why (kept in the audit with who and when)')
      .action(
        action(async (context, stream: string, options: ReasonOptions) => {
          const state = await withStore(context, async (store) => {
            await store[method](stream, { reason: options.reason ?? '' });
            return store.streamState(stream);
          });
          return printState(context, stream, state);
        }),
      );
  }

  command
    .command('truncate-before')
    .description('delete the events of a stream below a version (owner only, audited; the last event is always kept)')
    .argument('<stream>', 'stream id (uuid)')
    .requiredOption('--before-version <n>', 'delete the events below this version')
    .requiredOption('--reason <text>', 'why (kept in the audit with who, when and how many)')
    .option('--without-snapshot', 'delete even though no snapshot of the stream reaches the version before it')
    .action(
      action(async (context, stream: string, options: ReasonOptions & { beforeVersion: string; withoutSnapshot?: boolean }) => {
        const beforeVersion = parseInteger('--before-version', options.beforeVersion, 1) ?? 1;
        const { deleted, state } = await withStore(context, async (store) => {
          const result = await store.truncateStreamBefore(stream, beforeVersion, {
            reason: options.reason ?? '',
            withoutSnapshot: options.withoutSnapshot === true,
          });
          return { ...result, state: await store.streamState(stream) };
        });
        context.out.line(`deleted ${deleted} events of stream ${stream} before version ${beforeVersion}`);
        return printState(context, stream, state, { deleted });
      }),
    );
}
