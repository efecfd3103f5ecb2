import type { EventStore } from '../index.js';
import type { ReportProgress } from './jobs.js';

/** A capability of the store that the console shows, or why it cannot. */
export interface Feature {
  available: boolean;
  /** When not available: what this version of pgevents lacks. */
  missing: string | null;
}

/** Subscription as the page shows it. */
export interface SubscriptionJson {
  name: string;
  checkpoint: string | null;
  lagEvents: number | null;
  lagSeconds: number | null;
  state: string;
  lastError: string | null;
  updatedAt: string | null;
}

/**
 * What the console can do with this store: online rebuild, verify and refresh come from the store;
 * subscriptions plug in here when the store provides them.
 */
export interface ConsoleFeatures {
  rebuild: Feature & { run(name: string, report: ReportProgress): Promise<unknown> };
  verify: Feature & { run(name: string, report: ReportProgress): Promise<unknown> };
  refresh: Feature & { run(name: string): Promise<unknown> };
  subscriptions: Feature & {
    list: (() => Promise<SubscriptionJson[]>) | null;
    reset: ((name: string) => Promise<unknown>) | null;
    skip: ((name: string) => Promise<unknown>) | null;
  };
}

/** Events applied per batch by a rebuild from the console: small enough for a live progress bar. */
const REBUILD_BATCH = 500;

export function detectFeatures(store: EventStore): ConsoleFeatures {
  return {
    rebuild: {
      available: true,
      missing: null,
      run: (name, report) =>
        store.rebuild(name, {
          batchSize: REBUILD_BATCH,
          onProgress: (progress) => report(progress.applied, progress.total, progress.phase),
        }),
    },
    verify: {
      available: true,
      missing: null,
      run: async (name, report) => {
        report(0, null, 'verifying');
        return store.verify(name);
      },
    },
    refresh: {
      available: true,
      missing: null,
      run: async (name) => ({ concurrently: await store.refreshMaterializedView(name) }),
    },
    subscriptions: {
      available: false,
      missing:
        'store.listSubscriptions() and subscription reset / skip — subscriptions (issue 4) are not in this version of pgevents',
      list: null,
      reset: null,
      skip: null,
    },
  };
}

/** What the connected role may do; the page disables the rest and the server refuses it (403). */
export interface Permissions {
  role: string;
  rebuild: boolean;
  verify: boolean;
  refresh: boolean;
  subscriptions: boolean;
}

/**
 * Reads the role's privileges on the SQL functions behind each action. A reader (see
 * `pgevents grant --reader`) has none of them.
 */
export async function readPermissions(store: EventStore, features: ConsoleFeatures): Promise<Permissions> {
  const schema = store.schema;
  const [row] = await store.query<{ role: string; rebuild: boolean; verify: boolean; refresh: boolean }>(
    `select current_user::text as role,
            coalesce(has_function_privilege(current_user, to_regprocedure($1), 'execute'), false) as rebuild,
            coalesce(has_function_privilege(current_user, to_regprocedure($2), 'execute'), false) as verify,
            coalesce(has_function_privilege(current_user, to_regprocedure($3), 'execute'), false) as refresh`,
    [
      `${schema}.rebuild_start(text,boolean)`,
      `${schema}.verify_projection(text,text[],integer)`,
      `${schema}.refresh_materialized_view(text)`,
    ],
  );
  return {
    role: row?.role ?? '',
    rebuild: features.rebuild.available && row?.rebuild === true,
    verify: features.verify.available && row?.verify === true,
    refresh: features.refresh.available && row?.refresh === true,
    subscriptions: false,
  };
}
