import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatTable } from '../output.js';
import { formatSubscriptions } from './subscriptions.js';

/** The latest of the times a projection was rebuilt, replayed or refreshed, or ''. */
function latest(...times: (Date | null)[]): string {
  const known = times.filter((time): time is Date => time !== null).map((time) => time.getTime());
  return known.length === 0 ? '' : new Date(Math.max(...known)).toISOString();
}

export function defineStatus(program: Command): void {
  program
    .command('status')
    .description('counts, streams, event types (and those no projection handles), projections and views')
    .action(
      action(async (context) => {
        const status = await withStore(context, (store) => store.status());
        context.out.result(status, () => {
          const { out } = context;
          out.line(`engine ${status.engine}, schema ${status.schema} (migration ${status.schemaVersion})`);
          out.line(`${status.events} events in ${status.streams} streams, last position ${status.lastPosition ?? '-'}`);
          if (status.strictEventTypes) out.line('strict: appends of undeclared event types are refused');
          out.line();
          out.line('event types');
          out.line(
            formatTable(
              status.eventTypes.map((type) => ({
                type: type.type,
                events: type.events,
                'handled by': type.handledBy.join(', ') || '(no projection)',
              })),
            ),
          );
          out.line();
          out.line('projections');
          out.line(
            formatTable(
              status.projections.map((projection) => ({
                name: projection.name,
                kind: projection.kind === 'trigger' ? 'trigger' : 'materialized view',
                version: projection.version,
                state: projection.stateText,
                rows: projection.rows ?? '?',
                'last event': projection.lastPosition ?? '-',
                tables: projection.tables.join(', '),
                handles: projection.handledTypes.join(', '),
                'last rebuild': latest(projection.lastRebuiltAt, projection.lastReplayedAt, projection.lastRefreshedAt),
              })),
              ['name', 'kind', 'version', 'state', 'rows', 'last event', 'tables', 'handles', 'last rebuild'],
            ),
          );
          const attention = status.projections.filter((projection) => projection.state === 'needs rebuild' || projection.state === 'failed');
          for (const projection of attention) {
            out.line();
            out.line(
              projection.state === 'failed'
                ? `warning: the last rebuild of ${projection.name} failed (its live tables are unchanged): pgevents rebuild ${projection.name} --status`
                : `warning: ${projection.name} needs a rebuild (its tables were built with version ${projection.builtVersion ?? 'none'}, the code is version ${projection.version}): pgevents rebuild ${projection.name}`,
            );
          }
          if (status.subscriptions.length > 0) {
            out.line();
            out.line('subscriptions');
            out.line(formatSubscriptions(status.subscriptions));
            for (const subscription of status.subscriptions.filter((candidate) => candidate.state === 'failed')) {
              out.line();
              out.line(
                `warning: subscription ${subscription.name} failed at position ${subscription.failedEvent?.position ?? '?'}: ` +
                  `pgevents subscriptions resume ${subscription.name} (retry) or skip ${subscription.name}`,
              );
            }
          }
          if (status.undeclaredTypes.length > 0) {
            out.line();
            out.line(
              `warning: stored event types the store does not declare: ${status.undeclaredTypes.join(', ')}` +
                (status.strictEventTypes ? ' (stored before it was strict; new ones are refused)' : ' (declare them, or make the store strict to refuse them)'),
            );
          }
          if (status.unhandledTypes.length > 0) {
            out.line();
            out.line(`warning: no projection handles ${status.unhandledTypes.join(', ')} (a misspelt event type?)`);
          }
        });
        return ExitCode.ok;
      }),
    );
}
