import type { Queryable } from '../db/executor.js';

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
  /** Reset subscriptions and skip their events (`resetSubscription`, `skipSubscriptionEvent`). */
  manageSubscriptions: boolean;
}

/**
 * The role's privileges on the SQL functions behind each action. A reader (`grant({ readers })`)
 * has none of them.
 */
export async function readPermissions(db: Queryable, schema: string): Promise<StorePermissions> {
  const [row] = await db.query<{ role: string; rebuild: boolean; verify: boolean; refresh: boolean; subscriptions: boolean }>(
    `select current_user::text as role,
            coalesce(has_function_privilege(current_user, to_regprocedure($1), 'execute'), false) as rebuild,
            coalesce(has_function_privilege(current_user, to_regprocedure($2), 'execute'), false) as verify,
            coalesce(has_function_privilege(current_user, to_regprocedure($3), 'execute'), false) as refresh,
            coalesce(has_function_privilege(current_user, to_regprocedure($4), 'execute')
                     and has_function_privilege(current_user, to_regprocedure($5), 'execute'), false) as subscriptions`,
    [
      `${schema}.rebuild_start(text,boolean)`,
      `${schema}.verify_projection(text,text[],integer)`,
      `${schema}.refresh_materialized_view(text)`,
      `${schema}.reset_subscription(text,text)`,
      `${schema}.skip_subscription_event(text)`,
    ],
  );
  return {
    role: row?.role ?? '',
    rebuild: row?.rebuild === true,
    verify: row?.verify === true,
    refresh: row?.refresh === true,
    manageSubscriptions: row?.subscriptions === true,
  };
}
