import type { Queryable, Row } from '../db/executor.js';
import { toInteger } from '../db/normalize.js';
import { InvalidArgumentError, UnknownProjectionError } from '../errors.js';
import { assertInteger } from '../store/validate.js';
import type { ProjectionInfo } from '../types.js';
import { listProjections } from './projections.js';

/** A read-model table of a projection, with its rows counted. */
export interface ProjectionTable {
  projection: string;
  /** The table as registered with the projection. */
  table: string;
  /** The relation PostgreSQL resolves it to, schema-qualified and quoted where needed, or null when it no longer exists. */
  relation: string | null;
  /** Rows, counted up to `maxRows`; null when they could not be counted. */
  rows: number | null;
  /** Whether the table holds more than `maxRows` rows. */
  rowsCapped: boolean;
  /** Why the rows could not be counted: the table no longer exists, or the role may not read it. */
  problem: string | null;
}

export interface ListProjectionTablesOptions {
  /** Only this projection's tables. */
  projection?: string;
  /** Count at most this many rows of each table, default 100,000, so that a huge table costs a bounded scan. */
  maxRows?: number;
}

/** A page of a projection's table, as read by {@link readProjectionRows}. */
export interface ProjectionRowsPage {
  projection: string;
  table: string;
  /** The relation PostgreSQL resolves the table to, schema-qualified and quoted where needed. */
  relation: string;
  /** The table's columns in order, with their SQL types. */
  columns: { name: string; type: string }[];
  /** What orders the rows: the primary key, else a unique index, else their physical place. */
  orderedBy: 'primary key' | 'unique index' | 'physical order';
  /** The rows as the driver returns them. */
  rows: Row[];
  /** Whether there are more rows after this page. */
  hasMore: boolean;
}

export interface ReadProjectionRowsOptions {
  /** One of the projection's tables, as registered; default its first. */
  table?: string;
  /** At most this many rows, default 25. */
  limit?: number;
  /** Skip this many rows first, default 0. */
  offset?: number;
}

async function projectionNamed(db: Queryable, schema: string, name: string): Promise<ProjectionInfo> {
  const projection = (await listProjections(db, schema)).find((candidate) => candidate.name === name);
  if (!projection) throw new UnknownProjectionError(name);
  return projection;
}

// Always schema-qualified (regclass text leaves the schema out when the search_path finds the
// table), so that the name means the same table on any connection, whatever its search_path.
async function resolveRelation(db: Queryable, table: string): Promise<string | null> {
  const [row] = await db.query<{ relation: string }>(
    `select format('%I.%I', n.nspname, c.relname) as relation
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.oid = to_regclass($1)`,
    [table],
  );
  return row?.relation ?? null;
}

async function countRows(db: Queryable, projection: string, table: string, maxRows: number): Promise<ProjectionTable> {
  const relation = await resolveRelation(db, table);
  if (relation === null) return { projection, table, relation, rows: null, rowsCapped: false, problem: 'the table no longer exists' };
  try {
    // relation is PostgreSQL's own rendering of a registered regclass, quoted where needed.
    const [row] = await db.query<{ rows: unknown }>(`select count(*) as rows from (select 1 from ${relation} limit ${maxRows + 1}) t`);
    const rows = toInteger(row?.rows ?? 0);
    return { projection, table, relation, rows: Math.min(rows, maxRows), rowsCapped: rows > maxRows, problem: null };
  } catch (error) {
    return { projection, table, relation, rows: null, rowsCapped: false, problem: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The read-model tables of every projection (or of one), each with its rows counted up to
 * `maxRows`. A table that cannot be counted is reported with its problem instead of failing the rest.
 * @throws {UnknownProjectionError} for an unknown `projection`.
 */
export async function listProjectionTables(
  db: Queryable,
  schema: string,
  options: ListProjectionTablesOptions = {},
): Promise<ProjectionTable[]> {
  const maxRows = assertInteger('maxRows', options.maxRows ?? 100_000, 1, 100_000_000);
  const projections =
    options.projection === undefined ? await listProjections(db, schema) : [await projectionNamed(db, schema, options.projection)];
  const tables: ProjectionTable[] = [];
  for (const projection of projections) {
    for (const table of projection.tables) tables.push(await countRows(db, projection.name, table, maxRows));
  }
  return tables;
}

/**
 * A page of the rows of one of a projection's tables, ordered by the primary key (or a unique
 * index, preferring one without nullable columns, else by their physical place). Only tables
 * registered with the projection can be read. Returns null when the table no longer exists.
 * @throws {UnknownProjectionError} @throws {InvalidArgumentError} for a bad limit or offset, or a
 * table the projection does not have. A role that may not read the table gets PostgreSQL's own
 * error (SQLSTATE 42501), untouched.
 */
export async function readProjectionRows(
  db: Queryable,
  schema: string,
  name: string,
  options: ReadProjectionRowsOptions = {},
): Promise<ProjectionRowsPage | null> {
  const limit = assertInteger('limit', options.limit ?? 25, 1, 10_000);
  const offset = assertInteger('offset', options.offset ?? 0, 0);
  const projection = await projectionNamed(db, schema, name);
  const table = options.table ?? projection.tables[0];
  if (table === undefined || !projection.tables.includes(table)) {
    throw new InvalidArgumentError('table', `Projection ${name} has no table ${JSON.stringify(table ?? '')}`, {
      hint: `Its tables: ${projection.tables.join(', ') || 'none'}`,
    });
  }
  const relation = await resolveRelation(db, table);
  if (relation === null) return null;
  const columns = await db.query<{ name: string; type: string }>(
    `select attname::text as name, format_type(atttypid, atttypmod) as type
       from pg_attribute where attrelid = to_regclass($1) and attnum > 0 and not attisdropped order by attnum`,
    [relation],
  );
  const [key] = await db.query<{ columns: string; primary: boolean; nullable: boolean }>(
    `select string_agg(quote_ident(a.attname), ', ' order by k.ord) as columns, i.indisprimary as primary,
            bool_or(not a.attnotnull) as nullable
       from pg_index i
       cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
       join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
      where i.indrelid = to_regclass($1) and i.indisunique and i.indisvalid and i.indpred is null and i.indexprs is null
      group by i.indexrelid, i.indisprimary
      order by i.indisprimary desc, bool_or(not a.attnotnull), i.indexrelid
      limit 1`,
    [relation],
  );
  // Identifiers here come from PostgreSQL's catalog (quote_ident, format %I), never from the caller.
  // A unique index lets rows whose key holds a null tie: their place decides, so that pages
  // neither repeat nor skip them.
  const orderBy = key ? (key.nullable ? `${key.columns}, ctid` : key.columns) : 'ctid';
  const rows = await db.query(`select * from ${relation} order by ${orderBy} limit $1 offset $2`, [limit + 1, offset]);
  return {
    projection: name,
    table,
    relation,
    columns: columns.map((column) => ({ name: column.name, type: column.type })),
    orderedBy: key ? (key.primary ? 'primary key' : 'unique index') : 'physical order',
    rows: rows.slice(0, limit),
    hasMore: rows.length > limit,
  };
}
