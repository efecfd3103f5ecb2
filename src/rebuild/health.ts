import type { Queryable } from '../db/executor.js';
import { toIntegerOrNull } from '../db/normalize.js';
import { listProjections } from '../projections/projections.js';
import type { ProjectionHealth, ProjectionState, ProjectionStatus, RebuildPhase } from '../types.js';

/** The health of every projection (the projection_health view), by name. */
export async function projectionHealth(db: Queryable, schema: string): Promise<Map<string, ProjectionHealth>> {
  const rows = await db.query(
    `select name, handled_types, rows, last_position, stale_events, state, state_text, rebuild_phase,
            rebuild_percent
       from ${schema}.projection_health order by name`,
  );
  return new Map(
    rows.map((row) => [
      String(row.name),
      {
        handledTypes: (row.handled_types as string[] | null) ?? [],
        rows: toIntegerOrNull(row.rows),
        lastPosition: toIntegerOrNull(row.last_position),
        staleEvents: toIntegerOrNull(row.stale_events),
        state: row.state as ProjectionState,
        stateText: String(row.state_text),
        rebuildPhase: (row.rebuild_phase as RebuildPhase | null) ?? null,
        rebuildPercent: row.rebuild_percent === null || row.rebuild_percent === undefined ? null : Number(row.rebuild_percent),
      },
    ]),
  );
}

const UNKNOWN_HEALTH: ProjectionHealth = {
  handledTypes: [],
  rows: null,
  lastPosition: null,
  staleEvents: null,
  state: 'unknown',
  stateText: 'unknown',
  rebuildPhase: null,
  rebuildPercent: null,
};

/** The health of every projection, or an empty map for a role that may not read it (a reader). */
async function readableHealth(db: Queryable, schema: string): Promise<Map<string, ProjectionHealth>> {
  try {
    return await projectionHealth(db, schema);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === '42501') return new Map();
    throw error;
  }
}

/**
 * Every projection with its health, for status(). Health is the owner's to see (readers are not
 * granted it), and a schema older than migration 5 has none: then a projection's state is
 * `unknown` and only what the registry knows is reported.
 */
export async function projectionStatuses(db: Queryable, schema: string, schemaVersion: number): Promise<ProjectionStatus[]> {
  const projections = await listProjections(db, schema);
  const health = schemaVersion >= 5 ? await readableHealth(db, schema) : new Map<string, ProjectionHealth>();
  return projections.map((projection) => ({
    ...projection,
    ...(health.get(projection.name) ?? { ...UNKNOWN_HEALTH, handledTypes: Object.keys(projection.handlers) }),
  }));
}
