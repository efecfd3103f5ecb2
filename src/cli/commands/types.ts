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
  requiredFields: string[] | null;
  checkFunction: string | null;
  oldVersions: 'upcast' | 'refuse' | null;
  events: number;
  handledBy: string[];
}

export function defineTypes(program: Command): void {
  program
    .command('types')
    .description(
      'event types: the declared ones (version, validation, description), their upcasters, the stored ones (events, projections that handle them), and whether the store is strict',
    )
    .action(
      action(async (context) => {
        const { strict, types, upcasters } = await withStore(context, async (store) => {
          const [declared, stored, isStrict, upcasters] = await Promise.all([
            store.listDeclaredEventTypes(),
            store.listEventTypes(),
            store.strictEventTypes(),
            store.listUpcasters(),
          ]);
          const rows = new Map<string, TypeRow>();
          for (const d of declared) {
            rows.set(d.type, {
              type: d.type,
              declared: true,
              version: d.version,
              description: d.description,
              requiredFields: d.requiredFields,
              checkFunction: d.checkFunction,
              oldVersions: d.oldVersions,
              events: 0,
              handledBy: [],
            });
          }
          for (const s of stored) {
            const row = rows.get(s.type) ?? {
              type: s.type,
              declared: false,
              version: null,
              description: null,
              requiredFields: null,
              checkFunction: null,
              oldVersions: null,
              events: 0,
              handledBy: [],
            };
            rows.set(s.type, { ...row, events: s.events, handledBy: s.handledBy });
          }
          return { strict: isStrict, types: [...rows.values()].sort((a, b) => a.type.localeCompare(b.type)), upcasters };
        });
        context.out.result({ strict, types, upcasters }, () => {
          const { out } = context;
          out.line(strict ? 'strict: appends of undeclared event types are refused' : 'not strict: every valid event type is accepted');
          out.line(
            formatTable(
              types.map((row) => ({
                type: row.type,
                declared: row.declared ? `v${row.version}` : 'no',
                events: row.events,
                'handled by': row.handledBy.join(', '),
                validation: [row.requiredFields ? `requires ${row.requiredFields.join(', ')}` : '', row.checkFunction ?? '']
                  .filter(Boolean)
                  .join('; '),
                description: row.description ?? '',
              })),
              ['type', 'declared', 'events', 'handled by', 'validation', 'description'],
            ),
          );
          if (upcasters.length > 0) {
            out.line('');
            out.line('upcasters (reads hand out the current shape; stored rows never change):');
            out.line(
              formatTable(
                upcasters.map((u) => ({
                  from: `${u.type} v${u.fromVersion}`,
                  to: `${u.toType} v${u.toVersion}`,
                  function: u.function,
                  'reads as': `${u.finalType} v${u.finalVersion}`,
                })),
                ['from', 'to', 'function', 'reads as'],
              ),
            );
          }
        });
        return ExitCode.ok;
      }),
    );
}
