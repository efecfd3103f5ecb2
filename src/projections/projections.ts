import type { Queryable } from '../db/executor.js';
import { toDate, toDateOrNull, toInteger, toIntegerOrNull } from '../db/normalize.js';
import { InvalidArgumentError } from '../errors.js';
import type { DefineMaterializedViewOptions, DefineProjectionOptions, ProjectionInfo } from '../types.js';

const PROJECTION_NAME = /^[a-z][a-z0-9_]{0,39}$/;

/** @throws {InvalidArgumentError} for a name the SQL API would refuse. */
export function assertProjectionName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !PROJECTION_NAME.test(name)) {
    throw new InvalidArgumentError('name', `Invalid projection name: ${JSON.stringify(name)}`, {
      hint: 'Use 1 to 40 characters: a lowercase letter, then lowercase letters, digits or _.',
    });
  }
}

// Array parameters are sent as one array literal: a NUL or a lone surrogate in an element breaks it.
function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string' && item.isWellFormed() && !item.includes('\u0000'));
}

/** @throws {InvalidArgumentError} for options whose types the SQL function could not even receive. */
function assertDefineOptions(options: DefineProjectionOptions): void {
  const wrong = (argument: string, expected: string) =>
    new InvalidArgumentError(argument, `Invalid projection ${options.name}: ${argument} must be ${expected}`);
  const { handlers, tables, streamColumn, version, rebuildSql } = options as unknown as Record<string, unknown>;
  if (
    typeof handlers !== 'object' ||
    handlers === null ||
    Array.isArray(handlers) ||
    !Object.values(handlers).every((handler) => typeof handler === 'string')
  ) {
    throw wrong('handlers', 'an object of event type → function name');
  }
  if (tables !== undefined && !isStringArray(tables)) throw wrong('tables', 'an array of table names');
  if (streamColumn !== undefined && typeof streamColumn !== 'string') throw wrong('streamColumn', 'a column name');
  if (version !== undefined && !(Number.isSafeInteger(version) && (version as number) >= 1)) {
    throw wrong('version', 'a positive integer');
  }
  if (rebuildSql !== undefined && typeof rebuildSql !== 'string') throw wrong('rebuildSql', 'an SQL statement');
}

/** Defines (or redefines) a trigger projection through the SQL function define_projection. */
export async function defineProjection(db: Queryable, schema: string, options: DefineProjectionOptions): Promise<void> {
  assertProjectionName(options.name);
  assertDefineOptions(options);
  await db.query(`select ${schema}.define_projection($1, $2::jsonb, $3::text[], $4, $5, $6)`, [
    options.name,
    JSON.stringify(options.handlers),
    options.tables ?? [],
    options.streamColumn ?? null,
    options.version ?? 1,
    options.rebuildSql ?? null,
  ]);
}

/** Drops a projection; its tables too when asked. */
export async function dropProjection(db: Queryable, schema: string, name: string, dropTables: boolean): Promise<void> {
  await db.query(`select ${schema}.drop_projection($1, $2)`, [name, dropTables]);
}

export async function defineMaterializedView(
  db: Queryable,
  schema: string,
  options: DefineMaterializedViewOptions,
): Promise<void> {
  assertProjectionName(options.name);
  await db.query(`select ${schema}.define_materialized_view($1, $2, $3::text[], $4)`, [
    options.name,
    options.query,
    options.uniqueColumns ?? null,
    options.schema ?? null,
  ]);
}

/** Refreshes a materialized view projection; returns whether it ran concurrently. */
export async function refreshMaterializedView(db: Queryable, schema: string, name: string): Promise<boolean> {
  const [row] = await db.query<{ concurrently: boolean }>(`select ${schema}.refresh_materialized_view($1) as concurrently`, [
    name,
  ]);
  return row?.concurrently === true;
}

/** Every projection in the registry, with its handlers. */
export async function listProjections(db: Queryable, schema: string): Promise<ProjectionInfo[]> {
  const rows = await db.query(
    // Columns of later migrations through to_jsonb, so that an older schema still lists.
    `select p.name, p.kind, p.version, p.tables, p.stream_column, p.defined_at, p.last_replayed_at,
            p.last_refreshed_at, p.refreshed_position, to_jsonb(p) ->> 'built_version' as built_version,
            to_jsonb(p) ->> 'rebuild_sql' as rebuild_sql, to_jsonb(p) ->> 'last_rebuilt_at' as last_rebuilt_at,
            coalesce((select json_object_agg(h.event_type, h.handler order by h.event_type)
                        from ${schema}.projection_handlers h where h.projection = p.name), '{}'::json) as handlers
       from ${schema}.projections p
      order by p.name`,
  );
  return rows.map((row) => ({
    name: String(row.name),
    kind: row.kind as ProjectionInfo['kind'],
    version: toInteger(row.version),
    tables: (row.tables as string[] | null) ?? [],
    streamColumn: (row.stream_column as string | null) ?? null,
    handlers: (typeof row.handlers === 'string' ? JSON.parse(row.handlers) : row.handlers) as Record<string, string>,
    definedAt: toDate(row.defined_at),
    lastReplayedAt: toDateOrNull(row.last_replayed_at),
    lastRefreshedAt: toDateOrNull(row.last_refreshed_at),
    refreshedPosition: toIntegerOrNull(row.refreshed_position),
    builtVersion: toIntegerOrNull(row.built_version),
    rebuildSql: (row.rebuild_sql as string | null) ?? null,
    lastRebuiltAt: toDateOrNull(row.last_rebuilt_at),
  }));
}
