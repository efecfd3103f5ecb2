import {
  type EventStore,
  InvalidArgumentError,
  type ProjectionInfo,
  type ProjectionStatus,
  type ProjectionTable,
  type RebuildProgress,
} from '../../index.js';
import { HttpError, intParam } from '../http.js';
import type { JobBoard, JobInfo } from '../jobs.js';
import { cellJson } from '../json.js';

/** Row counts stop here, so that a huge read model costs a bounded scan. */
const COUNT_CAP = 100_000;

/** One read-model table of a projection. */
export interface TableInfo {
  /** As registered with the projection. */
  name: string;
  /** The relation PostgreSQL resolves it to (quoted as needed), or null when it no longer exists. */
  relation: string | null;
  /** Rows, counted up to {@link COUNT_CAP}; null when they cannot be read. */
  rows: number | null;
  rowsCapped: boolean;
  /** Why the rows could not be counted (e.g. no SELECT privilege). */
  problem: string | null;
}

/** A projection as the projections page shows it. */
export interface ProjectionDetails {
  name: string;
  kind: ProjectionInfo['kind'];
  /** Version of the projection's code, and the version its tables were last built with. */
  version: number;
  builtVersion: number | null;
  handledTypes: string[];
  handlers: Record<string, string>;
  streamColumn: string | null;
  /** Whether rebuilds use the projection's rebuild statement (the fast path) instead of its handlers. */
  fastPath: boolean;
  tables: TableInfo[];
  /** Rows in all its tables (exact below a million, else the planner's estimate). */
  rows: number | null;
  /** The last event applied: the newest handled event, or the position a view was refreshed at. */
  lastEventPosition: number | null;
  /** Materialized views: events committed since the last refresh. */
  staleEvents: number | null;
  /** The store's state (live, rebuilding, needs rebuild, failed, stale), or what a console job is doing. */
  state: string;
  stateText: string;
  definedAt: string;
  lastRebuiltAt: string | null;
  lastReplayedAt: string | null;
  lastRefreshedAt: string | null;
  /** The current or last online rebuild, wherever it was started (console, CLI, SQL). */
  rebuild: RebuildJson | null;
  /** The newest job the console started on it. */
  job: JobInfo | null;
}

/** An online rebuild's progress as the page gets it. */
export interface RebuildJson {
  phase: string;
  path: string;
  round: number;
  applied: number;
  total: number;
  percent: number;
  eventsPerSecond: number | null;
  etaSeconds: number | null;
  version: number;
  error: { message: string; hint: string | null } | null;
  startedAt: string;
  finishedAt: string | null;
}

function rebuildJson(progress: RebuildProgress | undefined): RebuildJson | null {
  if (!progress) return null;
  return {
    phase: progress.phase,
    path: progress.path,
    round: progress.round,
    applied: progress.applied,
    total: progress.total,
    percent: progress.percent,
    eventsPerSecond: progress.eventsPerSecond,
    etaSeconds: progress.etaSeconds,
    version: progress.version,
    error: progress.error ? { message: progress.error.message, hint: progress.error.hint } : null,
    startedAt: progress.startedAt.toISOString(),
    finishedAt: progress.finishedAt?.toISOString() ?? null,
  };
}

function tableInfo(table: ProjectionTable): TableInfo {
  return { name: table.table, relation: table.relation, rows: table.rows, rowsCapped: table.rowsCapped, problem: table.problem };
}

const JOB_STATE = { rebuild: 'rebuilding', verify: 'verifying', refresh: 'refreshing' } as const;

function details(
  projection: ProjectionStatus,
  tables: TableInfo[],
  progress: RebuildProgress | undefined,
  jobs: JobBoard,
): ProjectionDetails {
  const job = jobs.latest(projection.name) ?? null;
  let state: string = projection.state;
  let stateText = projection.stateText;
  if (job?.state === 'running' && job.kind in JOB_STATE && projection.state !== 'rebuilding') {
    state = JOB_STATE[job.kind as keyof typeof JOB_STATE];
    stateText = state;
  } else if (tables.some((table) => table.relation === null)) {
    state = 'broken';
    stateText = 'broken: a table is missing';
  } else if (projection.kind === 'materialized_view' && state === 'live') {
    state = 'fresh';
    stateText = 'fresh';
  }
  return {
    name: projection.name,
    kind: projection.kind,
    version: projection.version,
    builtVersion: projection.builtVersion,
    handledTypes: projection.handledTypes.length > 0 ? projection.handledTypes : Object.keys(projection.handlers),
    handlers: projection.handlers,
    streamColumn: projection.streamColumn,
    fastPath: projection.rebuildSql !== null,
    tables,
    rows: projection.rows,
    lastEventPosition: projection.lastPosition ?? (projection.kind === 'materialized_view' ? projection.refreshedPosition : null),
    staleEvents: projection.staleEvents,
    state,
    stateText,
    definedAt: projection.definedAt.toISOString(),
    lastRebuiltAt: projection.lastRebuiltAt?.toISOString() ?? null,
    lastReplayedAt: projection.lastReplayedAt?.toISOString() ?? null,
    lastRefreshedAt: projection.lastRefreshedAt?.toISOString() ?? null,
    rebuild: rebuildJson(progress),
    job,
  };
}

/** Rebuild progress, or none for a role that may not read it (rebuild progress is the owner's). */
async function readableRebuildProgress(store: EventStore, name: string | undefined): Promise<RebuildProgress[]> {
  try {
    return await store.rebuildProgress(name);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === '42501') return [];
    throw error;
  }
}

/** Every projection and materialized view with what the projections page shows. */
export async function listProjectionDetails(store: EventStore, jobs: JobBoard, name?: string): Promise<ProjectionDetails[]> {
  const { projections, eventTypes } = await store.status();
  const progress = new Map((await readableRebuildProgress(store, name)).map((item) => [item.projection, item]));
  const lastByType = new Map(eventTypes.map((type) => [type.type, type.lastPosition]));
  const shown = projections.filter((projection) => name === undefined || projection.name === name);
  const tables =
    shown.length === 0 ? [] : await store.listProjectionTables({ ...(name === undefined ? {} : { projection: name }), maxRows: COUNT_CAP });
  const result: ProjectionDetails[] = [];
  for (const projection of shown) {
    const own = tables.filter((table) => table.projection === projection.name).map(tableInfo);
    const found = details(projection, own, progress.get(projection.name), jobs);
    // A reader is not shown projection health (its state is `unknown`): the last event applied
    // by a trigger projection is still the newest stored event of a type it handles.
    if (found.lastEventPosition === null && projection.kind === 'trigger') {
      const positions = found.handledTypes.map((type) => lastByType.get(type)).filter((position) => position !== undefined);
      found.lastEventPosition = positions.length > 0 ? Math.max(...positions) : null;
    }
    result.push(found);
  }
  return result;
}

/** One projection, by name. @throws {HttpError} 404 for an unknown projection. */
export async function projectionDetails(store: EventStore, name: string, jobs: JobBoard): Promise<ProjectionDetails> {
  const [found] = await listProjectionDetails(store, jobs, name);
  if (!found) throw new HttpError(404, 'UNKNOWN_PROJECTION', `Unknown projection: ${name}`);
  return found;
}

/**
 * A page of one of a projection's tables. Only tables registered with the projection can be read;
 * rows are ordered by the primary key (or a unique index), else by their physical place.
 */
export async function readModelRows(store: EventStore, name: string, url: URL) {
  const limit = intParam(url, 'limit', 25, 1, 200);
  const offset = intParam(url, 'offset', 0, 0, 1_000_000);
  const table = url.searchParams.get('table') ?? undefined;
  const page = await store.readProjectionRows(name, { table, limit, offset }).catch((error: unknown) => {
    if (error instanceof InvalidArgumentError) throw new HttpError(400, 'BAD_REQUEST', error.message, error.hint);
    throw error;
  });
  if (page === null) {
    const missing = table ?? (await store.listProjections()).find((projection) => projection.name === name)?.tables[0];
    throw new HttpError(404, 'UNKNOWN_TABLE', `Table ${missing} of projection ${name} no longer exists`);
  }
  return {
    projection: page.projection,
    table: page.table,
    relation: page.relation,
    columns: page.columns,
    orderedBy: page.orderedBy,
    offset,
    limit,
    hasMore: page.hasMore,
    rows: page.rows.map((row) => page.columns.map((column) => cellJson(row[column.name]))),
  };
}
