import type { Queryable } from '../db/executor.js';
import { toDate, toInteger } from '../db/normalize.js';
import type { DeclaredEventType, EventUpcaster } from '../types.js';

function nullableText(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

function toDeclared(row: Record<string, unknown>): DeclaredEventType {
  return {
    type: String(row.type),
    version: toInteger(row.version),
    description: nullableText(row.description),
    requiredFields: Array.isArray(row.required_fields) ? row.required_fields.map(String) : null,
    checkFunction: nullableText(row.check_function),
    oldVersions: row.old_versions === 'refuse' ? 'refuse' : 'upcast',
    declaredAt: toDate(row.declared_at),
  };
}

function toUpcaster(row: Record<string, unknown>): EventUpcaster {
  return {
    type: String(row.type),
    fromVersion: toInteger(row.from_version),
    function: String(row.function),
    toType: String(row.to_type),
    toVersion: toInteger(row.to_version),
    finalType: String(row.final_type),
    finalVersion: toInteger(row.final_version),
    definedAt: toDate(row.defined_at),
  };
}

/** What a declaration of an event type says besides its name (`define_event_type`). */
export interface EventTypeDeclaration {
  /** The version of its body shape (default 1); it only goes up, and only while no event of the type is stored. */
  version?: number;
  description?: string | null;
  /** Top-level body fields every appended event of the type must have. */
  requiredFields?: readonly string[] | null;
  /** A function `(jsonb) returns boolean` (name as SQL resolves it) every appended body must pass. */
  checkFunction?: string | null;
  /** What an append of an older version gets: `upcast` (default) to the current shape, or `refuse`d. */
  oldVersions?: 'upcast' | 'refuse';
}

/** Declares an event type, or changes its declaration. @throws {InvalidEventError} @throws {InvalidArgumentError} */
export async function defineEventType(
  db: Queryable,
  schema: string,
  type: string,
  declaration: EventTypeDeclaration = {},
): Promise<DeclaredEventType> {
  const [row] = await db.query(`select * from ${schema}.define_event_type($1, $2, $3, $4::text[], $5, $6)`, [
    type,
    declaration.version ?? 1,
    declaration.description ?? null,
    declaration.requiredFields ?? null,
    declaration.checkFunction ?? null,
    declaration.oldVersions ?? 'upcast',
  ]);
  return toDeclared(row ?? {});
}

/**
 * Says how bodies of (type, fromVersion) become the next shape: `fn` is an SQL function
 * `(jsonb) returns jsonb`. Into version fromVersion + 1 of the type (an upcaster from the current
 * version moves the type to the next), or, with `toType`, into that declared type's current
 * version (a rename). @throws {InvalidArgumentError}
 */
export async function defineUpcaster(
  db: Queryable,
  schema: string,
  type: string,
  fromVersion: number,
  fn: string,
  options: { toType?: string } = {},
): Promise<EventUpcaster> {
  const [row] = await db.query(`select * from ${schema}.define_upcaster($1, $2, $3, $4)`, [type, fromVersion, fn, options.toType ?? null]);
  return toUpcaster(row ?? {});
}

/** The upcasters, by type and version. */
export async function listUpcasters(db: Queryable, schema: string): Promise<EventUpcaster[]> {
  return (await db.query(`select * from ${schema}.event_upcasters order by type, from_version`)).map(toUpcaster);
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
