import type { Queryable } from '../db/executor.js';
import { InvalidArgumentError } from '../errors.js';

/**
 * Existing roles to give least-privilege access, by kind. A role may be named under several kinds
 * (an application that appends and runs subscriptions is a writer and a subscriber). Every kind
 * reads: events, streams, read models, and the status of subscriptions, projections and rebuilds.
 */
export interface GrantOptions {
  /** Roles that append (append_events, plain INSERT into events, imports) and read. */
  writers?: string[];
  /** Roles that read and change nothing. */
  readers?: string[];
  /**
   * Roles that run subscriptions, async projections and `tail` under their own name: they create
   * and advance their own subscriptions and register their listening sessions, and read. They may
   * not reset, skip or resume any subscription, nor touch another role's.
   */
  subscribers?: string[];
  /** Roles that reset, skip and resume any subscription or async projection, and read. */
  operators?: string[];
  /**
   * Roles that read the declared personal data decrypted (they may read the keys), and read; every
   * other role reads those fields as encrypted markers. See docs/personal-data.md.
   */
  personalDataReaders?: string[];
  /**
   * Tenant roles of a store in tenant mode ({@link enableTenants}), role name to tenant: each
   * appends only to its tenant's streams and reads only its tenant's events, subscriptions and
   * read-model rows (SQL grant_tenant; docs/scale-out.md). A tenant role has no other kind.
   */
  tenants?: Record<string, string>;
}

/** The kinds of access, in the order they are granted, with the SQL function of each. */
const KINDS = [
  { option: 'writers', fn: 'grant_writer' },
  { option: 'readers', fn: 'grant_reader' },
  { option: 'subscribers', fn: 'grant_subscriber' },
  { option: 'operators', fn: 'grant_operator' },
  { option: 'personalDataReaders', fn: 'grant_personal_data_reader' },
] as const;

// PostgreSQL truncates a role name to 63 bytes: two names that differ only after that would name
// the same role, so a long name could grant access to a role nobody meant.
const MAX_ROLE_NAME_BYTES = 63;

/** @throws {InvalidArgumentError} unless the role name is one PostgreSQL would take as given. */
function assertRoleName(role: unknown): asserts role is string {
  if (typeof role !== 'string' || role === '' || role.includes('\u0000') || Buffer.byteLength(role, 'utf8') > MAX_ROLE_NAME_BYTES) {
    throw new InvalidArgumentError('role', `Invalid role name: ${JSON.stringify(String(role)).slice(0, 80)}`, {
      hint: `A role name is 1 to ${MAX_ROLE_NAME_BYTES} bytes, without NUL characters; create the role first.`,
    });
  }
}

/**
 * Grants least-privilege access of each kind (SQL grant_writer, grant_reader, grant_subscriber,
 * grant_operator). The roles must exist; read models defined later are granted to them too, and
 * every later migration grants them their kinds again. Granting is idempotent. Every name is
 * checked before anything is granted.
 * @throws {InvalidArgumentError} for no roles, a kind that is not an array, or a name longer than
 * 63 bytes or holding NUL.
 * @throws {ProjectionDefinitionError} for a role that does not exist (PE006).
 */
export async function grantRoles(db: Queryable, schema: string, options: GrantOptions): Promise<void> {
  const lists = KINDS.map(({ option, fn }) => ({ fn, roles: (options?.[option] ?? []) as unknown }));
  if (lists.some((kind) => !Array.isArray(kind.roles))) {
    throw new InvalidArgumentError('roles', 'Name the writer, reader, subscriber and operator roles as arrays of role names', {
      hint: "e.g. store.grant({ writers: ['app'], subscribers: ['app'], operators: ['ops'] })",
    });
  }
  const checked = lists as { fn: string; roles: unknown[] }[];
  const tenants = options?.tenants ?? {};
  if (typeof tenants !== 'object' || tenants === null || Array.isArray(tenants)) {
    throw new InvalidArgumentError('tenants', 'Name the tenant roles as an object of role name to tenant', {
      hint: "e.g. store.grant({ tenants: { acme_app: 'acme' } })",
    });
  }
  const tenantRoles = Object.entries(tenants);
  for (const [role, tenant] of tenantRoles) {
    assertRoleName(role);
    if (typeof tenant !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/.test(tenant)) {
      throw new InvalidArgumentError('tenant', `Invalid tenant of role ${role}: ${JSON.stringify(String(tenant)).slice(0, 80)}`, {
        hint: 'A tenant is 1 to 63 letters, digits, _ . : or -, starting with a letter or digit.',
      });
    }
  }
  if (checked.every((kind) => kind.roles.length === 0) && tenantRoles.length === 0) {
    throw new InvalidArgumentError('roles', 'Name at least one writer, reader, subscriber or operator role', {
      hint: 'e.g. pgevents grant --writer app --subscriber app --operator ops',
    });
  }
  for (const kind of checked) for (const role of kind.roles) assertRoleName(role);
  for (const kind of checked) {
    for (const role of kind.roles) await db.query(`select ${schema}.${kind.fn}($1)`, [role]);
  }
  for (const [role, tenant] of tenantRoles) await db.query(`select ${schema}.grant_tenant($1, $2)`, [role, tenant]);
}

/**
 * Turns tenant mode on (SQL enable_tenants(); idempotent): row-level security on events and
 * streams, every new stream and event gets the tenant of the role that appends it. PostgreSQL 15+.
 * @throws {TenantModeError} on PostgreSQL 14 or older (PE041).
 */
export async function enableTenants(db: Queryable, schema: string): Promise<void> {
  await db.query(`select ${schema}.enable_tenants()`);
}

/**
 * Puts a read-model table under a tenant policy (SQL enable_tenant_policy): tenant roles see and
 * write only its rows whose `column` is their tenant. Run as a role that owns the table and the
 * store.
 * @throws {InvalidArgumentError} when the table has no such column (PE025).
 */
export async function enableTenantPolicy(db: Queryable, schema: string, table: string, column = 'tenant'): Promise<void> {
  await db.query(`select ${schema}.enable_tenant_policy($1::regclass, $2)`, [table, column]);
}
