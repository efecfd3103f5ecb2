import type { EventStore, RebuildProgress, StoreStatus } from '../../index.js';
import type { ConsoleFeatures } from '../features.js';
import type { JobBoard } from '../jobs.js';

/** Something on the overview that needs a person's attention. */
export interface AttentionItem {
  level: 'error' | 'warning' | 'info';
  /** What it is about: `projection`, `event_type`, `subscription`. */
  subject: string;
  name: string;
  message: string;
  /** A console route (`#/…`) that shows more. */
  link: string;
}

/** Events per minute over the last hour; only the newest events are scanned (see `capped`). */
export interface AppendsChart {
  /** Start of the first one-minute bucket (ISO 8601). */
  start: string;
  /** 60 counts, oldest first; the last bucket is the current minute. */
  counts: number[];
  /** True when the hour held more events than the scan window, so early buckets are undercounted. */
  capped: boolean;
}

/** Events appended per minute over the last hour, from the newest events only. */
export async function appendsPerMinute(store: EventStore): Promise<AppendsChart> {
  const { start, counts, capped } = await store.appendsPerMinute();
  return { start: start.toISOString(), counts, capped };
}

/** Projections, event types and subscriptions that need attention. */
export async function attentionItems(
  store: EventStore,
  status: StoreStatus,
  jobs: JobBoard,
  features: ConsoleFeatures,
): Promise<AttentionItem[]> {
  const items: AttentionItem[] = [];
  const failedRebuilds = status.projections.some((projection) => projection.state === 'failed')
    ? new Map((await store.rebuildProgress().catch(() => [] as RebuildProgress[])).map((progress) => [progress.projection, progress]))
    : new Map<string, RebuildProgress>();
  for (const projection of status.projections) {
    const link = `#/projections/${encodeURIComponent(projection.name)}`;
    const add = (level: AttentionItem['level'], message: string) =>
      items.push({ level, subject: 'projection', name: projection.name, message, link });
    if (projection.state === 'failed') {
      add('error', `last rebuild failed: ${failedRebuilds.get(projection.name)?.error?.message ?? 'see the projection'}; the live tables are still served`);
    } else if (projection.state === 'needs rebuild') {
      add(
        'warning',
        projection.builtVersion === null
          ? 'defined over stored events and never built: rebuild it'
          : `version ${projection.version} is newer than the tables (built with version ${projection.builtVersion}): rebuild it`,
      );
    } else if (projection.state === 'stale') {
      const behind = projection.staleEvents ?? 0;
      add('warning', `materialized view is ${behind} event${behind === 1 ? '' : 's'} behind: refresh it`);
    } else if (projection.state === 'rebuilding') {
      add('info', projection.stateText);
    }
    const job = jobs.latest(projection.name);
    if (job?.state === 'failed' && projection.state !== 'failed') add('error', `${job.kind} failed: ${job.error?.message ?? 'unknown error'}`);
    if (job?.state === 'succeeded' && job.kind === 'verify' && (job.result as { equal?: boolean } | null)?.equal === false) {
      add('warning', 'verify found differences between its tables and a rebuild');
    }
  }
  for (const type of status.eventTypes) {
    if (type.handledBy.length === 0) {
      items.push({
        level: 'warning',
        subject: 'event_type',
        name: type.type,
        message: `no projection handles ${type.type} (${type.events} event${type.events === 1 ? '' : 's'}): a misspelt type?`,
        link: `#/streams?type=${encodeURIComponent(type.type)}`,
      });
    }
  }
  if (features.subscriptions.list) {
    // A role that may not read subscriptions still gets the rest of the overview.
    const subscriptions = await features.subscriptions.list().catch((error: unknown) => {
      if ((error as { code?: unknown } | null)?.code === '42501') return [];
      throw error;
    });
    for (const subscription of subscriptions) {
      const add = (level: AttentionItem['level'], message: string) =>
        items.push({ level, subject: 'subscription', name: subscription.name, message, link: '#/subscriptions' });
      if (subscription.state === 'failed') {
        add('error', `failed${subscription.failedEvent ? ` at event #${subscription.failedEvent.position}` : ''}: ${subscription.lastError ?? 'unknown error'}`);
      } else if (subscription.lastError && subscription.attempts > 0) {
        add('warning', `retrying (${subscription.attempts} failed attempts): ${subscription.lastError}`);
      } else if ((subscription.lagSeconds ?? 0) > 60) {
        add('warning', `${subscription.lagEvents ?? '?'} events behind, the oldest waiting ${Math.round(subscription.lagSeconds ?? 0)} s`);
      }
    }
  }
  const rank = { error: 0, warning: 1, info: 2 } as const;
  return items.sort((a, b) => rank[a.level] - rank[b.level]);
}

/** Everything the overview page shows, in one answer. */
export async function overview(store: EventStore, jobs: JobBoard, features: ConsoleFeatures) {
  const status = await store.status();
  const [declaredTypes, upcasters] = await Promise.all([store.listDeclaredEventTypes(), store.listUpcasters()]);
  return {
    engine: status.engine,
    schema: status.schema,
    schemaVersion: status.schemaVersion,
    events: status.events,
    streams: status.streams,
    lastPosition: status.lastPosition,
    eventTypes: status.eventTypes,
    declaredTypes: declaredTypes.map((declared) => ({ ...declared, declaredAt: declared.declaredAt.toISOString() })),
    upcasters: upcasters.map((upcaster) => ({ ...upcaster, definedAt: upcaster.definedAt.toISOString() })),
    strictEventTypes: status.strictEventTypes,
    projections: status.projections.length,
    chart: await appendsPerMinute(store),
    attention: await attentionItems(store, status, jobs, features),
  };
}
