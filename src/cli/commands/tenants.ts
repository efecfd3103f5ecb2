import type { Command } from 'commander';
import {
  createTenantStores,
  listTenantStores,
  migrateTenantStores,
  type MigrateTenantStoresResult,
  type TenantProgress,
} from '../../tenants/tenants.js';
import { action } from '../action.js';
import { type CommandContext, withStore } from '../context.js';
import { describeError, ExitCode } from '../exit-codes.js';
import { formatTable } from '../output.js';
import { parseInteger } from '../parse.js';
import { createProgressBar } from '../progress.js';

interface MigrateOptions {
  concurrency: string;
}

function concurrencyOption(options: MigrateOptions): number {
  return parseInteger('--concurrency', options.concurrency, 1) ?? 4;
}

/** Prints a migration of many stores; exit 1 naming the tenants that failed (the others migrated). */
function report(context: CommandContext, verb: string, result: MigrateTenantStoresResult): number {
  const { out } = context;
  const failed = result.failed.map((failure) => ({ tenant: failure.tenant, schema: failure.schema, error: describeError(failure.error) }));
  out.result(
    {
      version: result.version,
      migrated: result.migrated.map(({ tenant, schema, applied, version, definitions }) => ({
        tenant,
        schema,
        applied,
        version,
        definitionsApplied: definitions !== undefined,
      })),
      failed,
    },
    () => {
      const changed = result.migrated.filter((store) => store.applied.length > 0 || store.definitions);
      out.line(
        `${verb} ${result.migrated.length} tenant store${result.migrated.length === 1 ? '' : 's'} (migration ${result.version}): ` +
          `${changed.length} changed, ${result.migrated.length - changed.length} already up to date`,
      );
      for (const failure of failed) out.line(`failed: ${failure.tenant} (schema ${failure.schema}): ${failure.error.message}`);
    },
  );
  if (failed.length > 0) {
    process.stderr.write(`pgevents: ${failed.length} tenant store${failed.length === 1 ? '' : 's'} failed: ${failed.map((failure) => failure.tenant).join(', ')}\n`);
    return ExitCode.failed;
  }
  return ExitCode.ok;
}

function progressBar(context: CommandContext, label: string) {
  const bar = createProgressBar(label, !context.out.json, 'tenants');
  let stopped = false;
  return {
    onProgress: (progress: TenantProgress) => bar.update(progress.done, progress.total),
    stop: () => {
      if (!stopped) bar.stop();
      stopped = true;
    },
  };
}

export function defineTenants(program: Command): void {
  const tenants = program
    .command('tenants')
    .description(
      'one store per tenant, in the schemas <tenant prefix>_<tenant>: create, migrate and list them; ' +
        'or many tenants in one store, kept apart by row-level security (enable-column)',
    );

  tenants
    .command('enable-column')
    .description(
      'turn tenant mode on for the store (--schema): a tenant column with row-level security; ' +
        'then grant tenant roles with pgevents grant --tenant-role <role>=<tenant> (PostgreSQL 15+)',
    )
    .action(
      action(async (context) => {
        await withStore(context, (store) => store.enableTenants());
        context.out.result({ tenantMode: true }, () => context.out.line('tenant mode is on: grant tenant roles with pgevents grant --tenant-role <role>=<tenant>'));
        return ExitCode.ok;
      }),
    );

  tenants
    .command('create')
    .description("install the store of each tenant (schema <prefix>_<tenant>); an existing one is brought up to date")
    .argument('<tenant...>', 'tenant names: plain lowercase identifiers')
    .option('--concurrency <n>', 'stores migrated at once (server)', '4')
    .action(
      action(async (context, names: string[], options: MigrateOptions) => {
        const concurrency = concurrencyOption(options);
        const progress = progressBar(context, 'creating');
        try {
          const result = await createTenantStores(names, { ...context.tenantStores(), concurrency, onProgress: progress.onProgress });
          progress.stop();
          return report(context, 'created', result);
        } finally {
          progress.stop();
        }
      }),
    );

  tenants
    .command('migrate')
    .description('bring every tenant store (or the tenants named) up to this version, with progress; the others go on when one fails')
    .argument('[tenant...]', 'only these tenants')
    .option('--concurrency <n>', 'stores migrated at once (server)', '4')
    .action(
      action(async (context, names: string[], options: MigrateOptions) => {
        const concurrency = concurrencyOption(options);
        const progress = progressBar(context, 'migrating');
        try {
          const result = await migrateTenantStores({
            ...context.tenantStores(),
            ...(names.length > 0 ? { tenants: names } : {}),
            concurrency,
            onProgress: progress.onProgress,
          });
          progress.stop();
          return report(context, 'migrated', result);
        } finally {
          progress.stop();
        }
      }),
    );

  tenants
    .command('list')
    .description('the tenant stores: schema, migration, up to date or not, last position')
    .action(
      action(async (context) => {
        const stores = await listTenantStores(context.tenantStores());
        context.out.result(stores, () => {
          context.out.line(
            formatTable(
              stores.map((store) => ({
                tenant: store.tenant,
                schema: store.schema,
                migration: store.version,
                'up to date': store.upToDate ? 'yes' : 'no',
                'last position': store.lastPosition ?? '-',
              })),
              ['tenant', 'schema', 'migration', 'up to date', 'last position'],
            ),
          );
        });
        return ExitCode.ok;
      }),
    );
}
