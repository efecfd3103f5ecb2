import type { Queryable } from '../db/executor.js';
import { toDate, toInteger } from '../db/normalize.js';
import type { DeclaredEventType } from '../types.js';

function toDeclared(row: Record<string, unknown>): DeclaredEventType {
  return {
    type: String(row.type),
    version: toInteger(row.version),
    description: row.description === null || row.description === undefined ? null : String(row.description),
    declaredAt: toDate(row.declared_at),
  };
}

/** Declares an event type, or changes its version and description. @throws {InvalidEventError} */
export async function defineEventType(
  db: Queryable,
  schema: string,
  type: string,
  options: { version?: number; description?: string | null } = {},
): Promise<DeclaredEventType> {
  const [row] = await db.query(`select * from ${schema}.define_event_type($1, $2, $3)`, [type, options.version ?? 1, options.description ?? null]);
  return toDeclared(row ?? {});
}

/** Forgets a declared type (its stored events stay); whether it was declared. */
export async function dropEventType(db: Queryable, schema: string, type: string): Promise<boolean> {
  const [row] = await db.query<{ dropped: boolean }>(`select ${schema}.drop_event_type($1) as dropped`, [type]);
  return row?.dropped === true;
}

/** The declared event types, by name. */
export async function listDeclaredEventTypes(db: Queryable, schema: string): Promise<DeclaredEventType[]> {
  return (await db.query(`select * from ${schema}.event_type_declarations order by type`)).map(toDeclared);
}

/** Whether the store refuses appends of undeclared types. */
export async function strictEventTypes(db: Queryable, schema: string): Promise<boolean> {
  const [row] = await db.query<{ strict: boolean }>(`select ${schema}.strict_event_types() as strict`);
  return row?.strict === true;
}

/** Makes the store refuse appends of undeclared types (or accept them again). */
export async function setStrictEventTypes(db: Queryable, schema: string, strict: boolean): Promise<void> {
  await db.query(`select ${schema}.set_strict_event_types($1)`, [strict === true]);
}
