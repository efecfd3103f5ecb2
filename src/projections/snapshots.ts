import type { Queryable } from '../db/executor.js';
import { toDate, toInteger, toJson } from '../db/normalize.js';
import { InvalidArgumentError } from '../errors.js';
import type { DefineSnapshotOptions, JsonValue, SnapshotInfo } from '../types.js';
import { assertProjectionName } from './projections.js';

function toSnapshotInfo(row: Record<string, unknown>): SnapshotInfo {
  return {
    name: String(row.name),
    evolve: String(row.evolve),
    types: (row.types as unknown[]).map(String),
    initial: toJson<JsonValue>(row.initial),
    every: row.every === null || row.every === undefined ? null : toInteger(row.every),
    onTypes: Array.isArray(row.on_types) ? row.on_types.map(String) : null,
    table: `${String(row.schema)}_snapshots.${String(row.name)}`,
    definedAt: toDate(row.defined_at),
  };
}

/** Defines (or redefines) a snapshot through the SQL function define_snapshot. */
export async function defineSnapshot(db: Queryable, schema: string, options: DefineSnapshotOptions): Promise<SnapshotInfo> {
  assertProjectionName(options.name);
  const stringArray = (value: unknown) => Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string');
  if (!stringArray(options.types)) {
    throw new InvalidArgumentError('types', `Invalid snapshot ${options.name}: types must be a non-empty array of event types`);
  }
  if (options.onTypes !== undefined && options.onTypes !== null && !stringArray(options.onTypes)) {
    throw new InvalidArgumentError('onTypes', `Invalid snapshot ${options.name}: onTypes must be a non-empty array of event types`);
  }
  if (typeof options.evolve !== 'string') {
    throw new InvalidArgumentError('evolve', `Invalid snapshot ${options.name}: evolve must name an SQL function (state jsonb, event events) returns jsonb`);
  }
  const [row] = await db.query(
    `select s.*, $8::text as schema from ${schema}.define_snapshot($1, $2, $3::text[], $4::jsonb, $5, $6::text[], $7) s`,
    [
      options.name,
      options.evolve,
      options.types,
      JSON.stringify(options.initial ?? {}),
      options.every === undefined ? 1 : options.every,
      options.onTypes ?? null,
      options.version ?? 1,
      schema,
    ],
  );
  return toSnapshotInfo(row ?? {});
}

/** Drops a snapshot: its projection, table and handler. */
export async function dropSnapshot(db: Queryable, schema: string, name: string): Promise<void> {
  await db.query(`select ${schema}.drop_snapshot($1)`, [name]);
}

/** The snapshots, by name. */
export async function listSnapshots(db: Queryable, schema: string): Promise<SnapshotInfo[]> {
  return (await db.query(`select s.*, $1::text as schema from ${schema}.snapshots s order by s.name`, [schema])).map(toSnapshotInfo);
}
