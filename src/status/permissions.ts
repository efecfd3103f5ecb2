import type { Queryable } from '../db/executor.js';
import { SchemaNotInstalledError } from '../errors.js';

/** What the connected role may do to the store, besides reading it. */
export interface StorePermissions {
  /** The connected role (current_user). */
  role: string;
  /** Rebuild projections (`rebuild`). */
  rebuild: boolean;
  /** Verify projections against a rebuild (`verify`). */
  verify: boolean;
  /** Refresh materialized views (`refreshMaterializedView`). */
  refresh: boolean;
  /**
   * Reset subscriptions, skip and retry their failed events (`resetSubscription`,
   * `skipSubscriptionEvent`, `resumeSubscription`): the store's owner and operators
   * (`grant({ operators })`).
   */
  manageSubscriptions: boolean;
}

type Action = Exclude<keyof StorePermissions, 'role'>;

/**
 * The SQL functions each action calls (see src/rebuild, src/projections, src/subscriptions), by
 * signature without the schema: a role may take the action when it may execute every one of them.
 * test/contract/store-reads.contract.ts checks that a migrated store has each.
 */
export const ACTION_FUNCTIONS: Readonly<Record<Action, readonly string[]>> = {
  rebuild: ['rebuild_start(text,boolean)', 'rebuild_step(text,integer)', 'rebuild_swap(text,text)'],
  verify: ['verify_projection(text,text[],integer)'],
  refresh: ['refresh_materialized_view(text)'],
  manageSubscriptions: ['reset_subscription(text,text)', 'skip_subscription_event(text)', 'resume_subscription(text)'],
};

/**
 * Actions that also need a kind of access: the subscription functions run with the caller's
 * rights, and the rows they change are open (row-level security) only to operators and the owner.
 */
const ACTION_ACCESS: Readonly<Partial<Record<Action, string>>> = { manageSubscriptions: 'operator' };

/** The kinds of access (of those asked) the connected role holds; none when it may not even ask. */
async function heldAccess(db: Queryable, schema: string, kinds: string[]): Promise<Set<string>> {
  const signature = `${schema}.has_store_access(name,text)`;
  const [may] = await db.query<{ ask: boolean | null }>(
    `select has_function_privilege(to_regprocedure($1), 'execute') as ask`,
    [signature],
  );
  // A role granted nothing may not call it; asking would fail where it should answer "no".
  if (may?.ask !== true) return new Set();
  const [access] = await db.query<{ kinds: string[] | null }>(
    `select array_agg(k.kind) filter (where ${schema}.has_store_access(current_user, k.kind)) as kinds
       from unnest($1::text[]) as k(kind)`,
    [kinds],
  );
  return new Set(access?.kinds ?? []);
}

/**
 * The role's privileges on the SQL functions behind each action. A reader (`grant({ readers })`)
 * has none of them. A function that does not exist is not read as "not allowed": the store is not
 * the one this code knows, and the call fails instead of silently turning the action off.
 * @throws {SchemaNotInstalledError} when one of the functions is missing (the schema is not
 * installed, or older than this code), naming them in its cause.
 */
export async function readPermissions(db: Queryable, schema: string): Promise<StorePermissions> {
  const checks = Object.entries(ACTION_FUNCTIONS).flatMap(([action, signatures]) =>
    signatures.map((signature) => ({ action: action as Action, signature: `${schema}.${signature}` })),
  );
  const rows = await db.query<{ role: string; signature: string; found: boolean; allowed: boolean | null }>(
    `select current_user::text as role, s.signature, to_regprocedure(s.signature) is not null as found,
            has_function_privilege(to_regprocedure(s.signature), 'execute') as allowed
       from unnest($1::text[]) with ordinality as s(signature, n)
      order by s.n`,
    [checks.map((check) => check.signature)],
  );
  const held = await heldAccess(db, schema, [...new Set(Object.values(ACTION_ACCESS))]);
  const missing = rows.filter((row) => row.found !== true).map((row) => row.signature);
  if (missing.length > 0) {
    throw new SchemaNotInstalledError(schema, { cause: new Error(`Missing SQL functions: ${missing.join(', ')}`) });
  }
  const allowed = new Map(rows.map((row) => [row.signature, row.allowed === true]));
  const may = (action: Action) =>
    checks.filter((check) => check.action === action).every((check) => allowed.get(check.signature) === true) &&
    (ACTION_ACCESS[action] === undefined || held.has(ACTION_ACCESS[action]));
  return {
    role: rows[0]?.role ?? '',
    rebuild: may('rebuild'),
    verify: may('verify'),
    refresh: may('refresh'),
    manageSubscriptions: may('manageSubscriptions'),
  };
}
