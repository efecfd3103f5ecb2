import { MigrationChecksumError, SchemaNewerThanCodeError, ServerVersionError } from '../errors.js';
import type { Executor, Queryable, Scriptable, Session } from '../db/executor.js';
import { toInteger } from '../db/normalize.js';
import type { MigrateResult } from '../types.js';
import { definitionFiles, migrationFiles, renderMigration, type Definitions } from './files.js';

// Key of the session advisory lock that serialises concurrent migrate runs in one database. One key
// for every schema: a migration may change database-wide state (e.g. default privileges), which two
// schemas' runs must not change at the same time.
const MIGRATE_LOCK_NAMESPACE = 1885824375;

interface AppliedMigration {
  id: number;
  name: string;
  checksum: string;
}

async function ensureLedger(session: Session, schema: string): Promise<void> {
  await session.script(`
    create schema if not exists ${schema};
    create table if not exists ${schema}.migrations (
      id int primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    );`);
}

async function checkServerVersion(session: Session): Promise<void> {
  const [row] = await session.query<{ server_version_num: string; server_version: string }>(
    `select current_setting('server_version_num') as server_version_num, current_setting('server_version') as server_version`,
  );
  if (row && Number(row.server_version_num) < 140000) throw new ServerVersionError(row.server_version);
}

/** The highest migration applied in the schema, or 0 when none (or the schema is absent). */
export async function schemaVersion(executor: Executor, schema: string): Promise<number> {
  const [row] = await executor.query<{ version: unknown }>(
    `select case when to_regclass($1) is null then 0 else null end as version`,
    [`${schema}.migrations`],
  );
  if (row && row.version !== null) return 0;
  const [applied] = await executor.query<{ version: unknown }>(`select coalesce(max(id), 0) as version from ${schema}.migrations`);
  return toInteger(applied?.version ?? 0);
}

/** The number of the newest migration this code ships. */
export function codeSchemaVersion(): number {
  return migrationFiles().at(-1)?.id ?? 0;
}

interface AppliedDefinitions {
  /** The combined checksum of the definitions applied last, or null when none were recorded. */
  current: string | null;
  /** Whether the given checksum was applied before the current one: the store has moved past it. */
  superseded: boolean;
}

async function appliedDefinitions(db: Queryable, schema: string, checksum: string): Promise<AppliedDefinitions> {
  const [ledger] = await db.query<{ exists: boolean }>(`select to_regclass($1) is not null as exists`, [`${schema}.definitions`]);
  if (!ledger?.exists) return { current: null, superseded: false };
  const [row] = await db.query<{ current: string | null; seen: boolean }>(
    `select (select d.checksum from ${schema}.definitions d order by d.id desc limit 1) as current,
            exists (select 1 from ${schema}.definitions d where d.checksum = $1) as seen`,
    [checksum],
  );
  const current = row?.current ?? null;
  return { current, superseded: current !== checksum && (row?.seen ?? false) };
}

/**
 * Applies every definition (functions, views, triggers) in order, then generates the code of every
 * trigger projection anew with them, and records their checksum. A projection whose handler was
 * dropped keeps its code until it is defined again.
 */
async function applyDefinitions(tx: Scriptable, schema: string, definitions: Definitions): Promise<void> {
  // Bodies of SQL functions are checked when they run, so that files need no order among themselves
  // beyond views before the functions that return their rows.
  await tx.query(`select set_config('check_function_bodies', 'off', true)`);
  for (const file of definitions.files) await tx.script(renderMigration(file, schema));
  await tx.query(`select set_config('check_function_bodies', 'on', true)`);
  // A handler is recorded as its regprocedure text, which names the store's types unqualified
  // (`public.f(events)`): resolved with the store's schema on the search_path (before
  // PostgreSQL 16, to_regprocedure fails on an unknown type name instead of returning null).
  await tx.query(`select set_config('search_path', $1, true)`, [`${schema}, pg_catalog`]);
  await tx.query(
    `select ${schema}.generate_projection_code(p.name)
       from ${schema}.projections p
      where p.kind = 'trigger'
        and not exists (select 1 from ${schema}.projection_handlers h
                         where h.projection = p.name and to_regprocedure(h.handler) is null)
      order by p.name`,
  );
  await tx.query(`insert into ${schema}.definitions (checksum) values ($1)`, [definitions.checksum]);
}

/**
 * Brings the schema to this code's state in one transaction: applies the pending numbered
 * migrations in order, recording name and checksum, then, when a migration was applied or the
 * definitions changed, applies the definitions of every function, view and trigger and generates
 * the projections' code anew. Safe to run from several processes at once: a session advisory lock
 * serialises them.
 * @throws {SchemaNewerThanCodeError} when the database has migrations this code does not know, or
 *   runs definitions that replaced this code's.
 * @throws {MigrationChecksumError} when an applied migration differs from the shipped file.
 */
export async function migrate(executor: Executor, schema: string): Promise<MigrateResult> {
  return executor.session(async (session) => {
    await checkServerVersion(session);
    const key = await migrateLockKey(session);
    await session.query(`select pg_advisory_lock($1, $2)`, [MIGRATE_LOCK_NAMESPACE, key]);
    try {
      return await migrateSchema(session, schema, { databaseWideLock: false });
    } finally {
      await session.query(`select pg_advisory_unlock($1, $2)`, [MIGRATE_LOCK_NAMESPACE, key]);
    }
  });
}

async function migrateLockKey(session: Queryable): Promise<number> {
  const [key] = await session.query<{ key: number }>(`select hashtext($1) as key`, ['pgevents.migrate']);
  return key?.key ?? 0;
}

// Key of the transaction advisory lock taken by a migration of many schemas at once before it
// applies a migration that changes database-wide state (see databaseWide below).
const DATABASE_WIDE_KEY = 'pgevents.migrate.database-wide';
// Namespace of the session advisory lock of one schema, taken by a migration of many schemas.
const SCHEMA_LOCK_NAMESPACE = 1885824376;

/**
 * Whether a migration changes state of the whole database (ALTER DEFAULT PRIVILEGES writes one
 * catalogue row per role, which two transactions cannot update at once).
 */
function databaseWide(file: { template: string }): boolean {
  return /alter\s+default\s+privileges/i.test(file.template);
}

/**
 * Migrates many schemas of one database on this session, each in a transaction of its own, as
 * one worker among several: takes the migrate lock shared (a plain {@link migrate} takes it
 * exclusively, so the two never overlap), and each schema's own lock while it migrates it. A
 * migration that changes database-wide state is applied under a transaction lock that
 * serialises it among the workers. The caller catches each schema's error.
 */
export async function migrateSchemas(
  session: Session,
  schemas: AsyncIterable<string> | Iterable<string>,
  onResult: (schema: string, result: MigrateResult | null, error: unknown) => void,
): Promise<void> {
  await checkServerVersion(session);
  const key = await migrateLockKey(session);
  await session.query(`select pg_advisory_lock_shared($1, $2)`, [MIGRATE_LOCK_NAMESPACE, key]);
  try {
    for await (const schema of schemas) {
      let result: MigrateResult | null = null;
      let failure: unknown = null;
      await session.query(`select pg_advisory_lock($1, hashtext($2))`, [SCHEMA_LOCK_NAMESPACE, schema]);
      try {
        result = await migrateSchema(session, schema, { databaseWideLock: true });
      } catch (error) {
        failure = error;
      } finally {
        await session.query(`select pg_advisory_unlock($1, hashtext($2))`, [SCHEMA_LOCK_NAMESPACE, schema]);
      }
      onResult(schema, result, failure);
    }
  } finally {
    await session.query(`select pg_advisory_unlock_shared($1, $2)`, [MIGRATE_LOCK_NAMESPACE, key]);
  }
}

/** The migration of one schema, its lock held by the caller. */
async function migrateSchema(session: Session, schema: string, options: { databaseWideLock: boolean }): Promise<MigrateResult> {
  const files = migrationFiles();
  const definitions = definitionFiles();
  await ensureLedger(session, schema);
  const applied = (
    await session.query<{ id: unknown; name: string; checksum: string }>(
      `select id, name, checksum from ${schema}.migrations order by id`,
    )
  ).map((row): AppliedMigration => ({ id: toInteger(row.id), name: row.name, checksum: row.checksum }));

  const newest = applied.at(-1)?.id ?? 0;
  const codeVersion = files.at(-1)?.id ?? 0;
  if (newest > codeVersion) throw new SchemaNewerThanCodeError(schema, newest, codeVersion);
  for (const done of applied) {
    const file = files.find((candidate) => candidate.id === done.id);
    if (!file || (file.checksum !== done.checksum && !file.releasedAs.includes(done.checksum))) {
      throw new MigrationChecksumError(schema, done.name);
    }
  }

  const pending = files.filter((file) => !applied.some((done) => done.id === file.id));
  if (pending.length === 0) {
    const stored = await appliedDefinitions(session, schema, definitions.checksum);
    if (stored.current === definitions.checksum) return { schema, applied: [], version: codeVersion };
    if (stored.superseded) throw new SchemaNewerThanCodeError(schema, newest, codeVersion, true);
  }
  // One transaction: a failure leaves the schema as it was, never between two states.
  await session.transaction(async (tx) => {
    for (const file of pending) {
      if (options.databaseWideLock && databaseWide(file)) {
        await tx.query(`select pg_advisory_xact_lock($1, hashtext($2))`, [MIGRATE_LOCK_NAMESPACE, DATABASE_WIDE_KEY]);
      }
      await tx.script(renderMigration(file, schema));
      await tx.query(`insert into ${schema}.migrations (id, name, checksum) values ($1, $2, $3)`, [
        file.id,
        file.name,
        file.checksum,
      ]);
    }
    await applyDefinitions(tx, schema, definitions);
  });
  return {
    schema,
    applied: pending.map((file) => file.name),
    version: codeVersion,
    definitions: definitions.checksum,
  };
}
