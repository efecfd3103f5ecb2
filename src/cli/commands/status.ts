import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatTable } from '../output.js';

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
                tables: projection.tables.join(', '),
                handles: Object.keys(projection.handlers).join(', '),
                'last replay/refresh': (projection.lastReplayedAt ?? projection.lastRefreshedAt)?.toISOString() ?? '',
              })),
              ['name', 'kind', 'version', 'tables', 'handles', 'last replay/refresh'],
            ),
          );
          if (status.unhandledTypes.length > 0) {
            out.line();
            out.line(`warning: no projection handles ${status.unhandledTypes.join(', ')} (a misspelt event type?)`);
          }
        });
        return ExitCode.ok;
      }),
    );
}
