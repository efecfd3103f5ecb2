import type { Command } from 'commander';
import type { SubscriptionInfo } from '../../index.js';
import { action } from '../action.js';
import { type CommandContext, withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatTable } from '../output.js';

function seconds(value: number): string {
  return value < 10 ? value.toFixed(1) : value.toFixed(0);
}

/** The subscriptions table that `subscriptions` and `status` print. */
export function formatSubscriptions(subscriptions: SubscriptionInfo[]): string {
  return formatTable(
    subscriptions.map((subscription) => ({
      name: subscription.name,
      kind: subscription.kind === 'projection' ? 'async projection' : 'subscription',
      state:
        subscription.state === 'running' && subscription.attempts > 0 ? `running (retry ${subscription.attempts})` : subscription.state,
      checkpoint: subscription.checkpoint,
      'lag events': subscription.lagEvents,
      'lag s': seconds(subscription.lagSeconds),
      'held back': subscription.heldBackEvents,
      'failed at': subscription.failedEvent
        ? `${subscription.failedEvent.type ?? '?'} @ position ${subscription.failedEvent.position} (${subscription.failedEvent.cursor})`
        : '',
      error: subscription.lastError ? subscription.lastError.replace(/\s+/g, ' ').slice(0, 80) : '',
      runner: subscription.runner ?? '',
    })),
    ['name', 'kind', 'state', 'checkpoint', 'lag events', 'lag s', 'held back', 'failed at', 'error', 'runner'],
  );
}

function printOne(context: CommandContext, verb: string, subscription: SubscriptionInfo): void {
  context.out.result(subscription, () => {
    context.out.line(`${verb} ${subscription.name}: checkpoint ${subscription.checkpoint}, state ${subscription.state}, ${subscription.lagEvents} events to go`);
  });
}

export function defineSubscriptions(program: Command): void {
  const command = program
    .command('subscriptions')
    .description('durable subscriptions and async projections: checkpoint, lag and state; reset, skip or resume one');

  command
    .command('list', { isDefault: true })
    .description('list each subscription with its checkpoint, lag (events and seconds) and state')
    .action(
      action(async (context) => {
        const subscriptions = await withStore(context, (store) => store.listSubscriptions());
        context.out.result(subscriptions, () => {
          context.out.line(formatSubscriptions(subscriptions));
          if (subscriptions.some((subscription) => subscription.heldBackEvents > 0)) {
            context.out.line();
            context.out.line('held back: committed events wait until every older transaction in the cluster has ended');
          }
        });
        return ExitCode.ok;
      }),
    );

  command
    .command('reset')
    .description("move a subscription's checkpoint (an async projection: empty its tables and start over) and clear a failure")
    .argument('<name>', 'subscription name')
    .option('--to <where>', "'start', 'end' or a cursor", 'start')
    .action(
      action(async (context, name: string, options: { to: string }) => {
        const subscription = await withStore(context, (store) => store.resetSubscription(name, { to: options.to }));
        printOne(context, 'reset', subscription);
        return ExitCode.ok;
      }),
    );

  command
    .command('skip')
    .description('skip the event a failed subscription stopped at; delivery goes on with the next one')
    .argument('<name>', 'subscription name')
    .action(
      action(async (context, name: string) => {
        const subscription = await withStore(context, (store) => store.skipSubscriptionEvent(name));
        printOne(context, 'skipped the failed event of', subscription);
        return ExitCode.ok;
      }),
    );

  command
    .command('resume')
    .description('retry the event a failed subscription stopped at')
    .argument('<name>', 'subscription name')
    .action(
      action(async (context, name: string) => {
        const subscription = await withStore(context, (store) => store.resumeSubscription(name));
        printOne(context, 'resumed', subscription);
        return ExitCode.ok;
      }),
    );
}
