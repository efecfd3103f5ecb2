import type { Command } from 'commander';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { InvalidArgumentError } from '../../errors.js';
import { ExitCode } from '../exit-codes.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

interface GrantCommandOptions {
  writer: string[];
  reader: string[];
  subscriber: string[];
  operator: string[];
  personalDataReader: string[];
  tenantRole: string[];
}

/** `<role>=<tenant>` pairs as grant's tenants option; a malformed one is a usage error. */
function tenantRoles(values: string[]): Record<string, string> {
  const tenants: Record<string, string> = {};
  for (const value of values) {
    const at = value.lastIndexOf('=');
    if (at <= 0 || at === value.length - 1) {
      throw new InvalidArgumentError('--tenant-role', `Invalid --tenant-role ${JSON.stringify(value)}: expected <role>=<tenant>`, {
        hint: 'e.g. pgevents grant --tenant-role acme_app=acme',
      });
    }
    tenants[value.slice(0, at)] = value.slice(at + 1);
  }
  return tenants;
}

export function defineGrant(program: Command): void {
  program
    .command('grant')
    .description(
      'give existing roles least-privilege access: writers append, subscribers run their own subscriptions, ' +
        'operators reset, skip and resume subscriptions; every kind reads',
    )
    .option('--writer <role>', 'a role that appends (API and plain INSERT) and reads; repeatable', collect, [])
    .option('--reader <role>', 'a role that reads events, read models and status; repeatable', collect, [])
    .option('--subscriber <role>', 'a role that runs its own subscriptions, async projections and tail, and reads; repeatable', collect, [])
    .option('--operator <role>', 'a role that resets, skips and resumes any subscription, and reads; repeatable', collect, [])
    .option('--personal-data-reader <role>', 'a role that reads declared personal data decrypted, and reads; repeatable', collect, [])
    .option(
      '--tenant-role <role=tenant>',
      "a store in tenant mode: a role that appends and reads only its tenant's events (pgevents tenants enable-column); repeatable",
      collect,
      [],
    )
    .action(
      action(async (context, options: GrantCommandOptions) => {
        const result = {
          writers: options.writer,
          readers: options.reader,
          subscribers: options.subscriber,
          operators: options.operator,
          ...(options.personalDataReader.length > 0 ? { personalDataReaders: options.personalDataReader } : {}),
          ...(options.tenantRole.length > 0 ? { tenants: tenantRoles(options.tenantRole) } : {}),
        };
        await withStore(context, (store) => store.grant(result));
        context.out.result(result, () => {
          for (const role of options.writer) context.out.line(`granted writer access to ${role}`);
          for (const role of options.reader) context.out.line(`granted reader access to ${role}`);
          for (const role of options.subscriber) context.out.line(`granted subscriber access to ${role}`);
          for (const role of options.operator) context.out.line(`granted operator access to ${role}`);
          for (const role of options.personalDataReader) context.out.line(`granted personal data reader access to ${role}`);
          for (const [role, tenant] of Object.entries(result.tenants ?? {})) context.out.line(`granted tenant ${tenant} to ${role}`);
        });
        return ExitCode.ok;
      }),
    );
}
