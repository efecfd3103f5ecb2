import type { EventStore, SubscriptionInfo } from '../index.js';
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
  /** `subscription`, or `projection` for an async projection. */
  kind: string;
  state: string;
  checkpoint: string | null;
  lagEvents: number | null;
  lagSeconds: number | null;
  /** Of the lag, events committed but held back by an older open transaction. */
  heldBackEvents: number | null;
  attempts: number;
  lastError: string | null;
  failedEvent: { position: number; type: string | null; stream: string | null; version: number | null } | null;
  runner: string | null;
  updatedAt: string | null;
}

function subscriptionJson(info: SubscriptionInfo): SubscriptionJson {
  return {
    name: info.name,
    kind: info.kind,
    state: info.state,
    checkpoint: info.checkpoint,
    lagEvents: info.lagEvents,
    lagSeconds: info.lagSeconds,
    heldBackEvents: info.heldBackEvents,
    attempts: info.attempts,
    lastError: info.lastError,
    failedEvent: info.failedEvent
      ? { position: info.failedEvent.position, type: info.failedEvent.type, stream: info.failedEvent.stream, version: info.failedEvent.version }
      : null,
    runner: info.runner,
    updatedAt: info.updatedAt.toISOString(),
  };
}

/**
 * What the console can do with this store. Each action is a feature with a flag, so that one a
 * store lacks is shown as not available (and answered 501) instead of guessed.
 */
export interface ConsoleFeatures {
  rebuild: Feature & { run(name: string, report: ReportProgress): Promise<unknown>; cancel(name: string): Promise<boolean> };
  verify: Feature & { run(name: string, report: ReportProgress): Promise<unknown> };
  refresh: Feature & { run(name: string): Promise<unknown> };
  subscriptions: Feature & {
    list: (() => Promise<SubscriptionJson[]>) | null;
    reset: ((name: string, to: 'start' | 'end') => Promise<unknown>) | null;
    skip: ((name: string) => Promise<unknown>) | null;
    resume: ((name: string) => Promise<unknown>) | null;
  };
}

/** Events applied per batch by a rebuild from the console: small enough for a live progress bar. */
const REBUILD_BATCH = 500;

/** What this store offers the console. */
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
      cancel: (name) => store.cancelRebuild(name),
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
      available: true,
      missing: null,
      list: async () => (await store.listSubscriptions()).map(subscriptionJson),
      reset: async (name, to) => subscriptionJson(await store.resetSubscription(name, { to })),
      skip: async (name) => subscriptionJson(await store.skipSubscriptionEvent(name)),
      resume: async (name) => subscriptionJson(await store.resumeSubscription(name)),
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
 * What the connected role may do (the store reads its privileges on the SQL functions behind each
 * action); a reader (see `pgevents grant --reader`) may do none of it.
 */
export async function readPermissions(store: EventStore, features: ConsoleFeatures): Promise<Permissions> {
  const permissions = await store.permissions();
  return {
    role: permissions.role,
    rebuild: features.rebuild.available && permissions.rebuild,
    verify: features.verify.available && permissions.verify,
    refresh: features.refresh.available && permissions.refresh,
    subscriptions: features.subscriptions.available && permissions.manageSubscriptions,
  };
}
