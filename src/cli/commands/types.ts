import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { formatTable } from '../output.js';

/** One event type as `pgevents types` lists it: declared, stored, or both. */
interface TypeRow {
  type: string;
  declared: boolean;
  version: number | null;
  description: string | null;
  events: number;
  handledBy: string[];
}

export function defineTypes(program: Command): void {
  program
    .command('types')
    .description('event types: the declared ones (version, description) and the stored ones (events, projections that handle them), and whether the store is strict')
    .action(
      action(async (context) => {
        const { strict, types } = await withStore(context, async (store) => {
          const [declared, stored, isStrict] = await Promise.all([store.listDeclaredEventTypes(), store.listEventTypes(), store.strictEventTypes()]);
          const rows = new Map<string, TypeRow>();
          for (const d of declared) rows.set(d.type, { type: d.type, declared: true, version: d.version, description: d.description, events: 0, handledBy: [] });
          for (const s of stored) {
            const row = rows.get(s.type) ?? { type: s.type, declared: false, version: null, description: null, events: 0, handledBy: [] };
            rows.set(s.type, { ...row, events: s.events, handledBy: s.handledBy });
          }
          return { strict: isStrict, types: [...rows.values()].sort((a, b) => a.type.localeCompare(b.type)) };
        });
        context.out.result({ strict, types }, () => {
          const { out } = context;
          out.line(strict ? 'strict: appends of undeclared event types are refused' : 'not strict: every valid event type is accepted');
          out.line(
            formatTable(
              types.map((row) => ({
                type: row.type,
                declared: row.declared ? `v${row.version}` : 'no',
                events: row.events,
                'handled by': row.handledBy.join(', '),
                description: row.description ?? '',
              })),
              ['type', 'declared', 'events', 'handled by', 'description'],
            ),
          );
        });
        return ExitCode.ok;
      }),
    );
}
