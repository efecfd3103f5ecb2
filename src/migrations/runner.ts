import { MigrationChecksumError, SchemaNewerThanCodeError, ServerVersionError } from '../errors.js';
import type { Executor, Session } from '../db/executor.js';
import { toInteger } from '../db/normalize.js';
import type { MigrateResult } from '../types.js';
import { migrationFiles, renderMigration } from './files.js';

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

/**
 * Applies the pending migrations in order, each in its own transaction, recording name and
 * checksum. Safe to run from several processes at once: a session advisory lock serialises them.
 * @throws {SchemaNewerThanCodeError} when the database has migrations this code does not know.
 * @throws {MigrationChecksumError} when an applied migration differs from the shipped file.
 */
export async function migrate(executor: Executor, schema: string): Promise<MigrateResult> {
  const files = migrationFiles();
  return executor.session(async (session) => {
    await checkServerVersion(session);
    const [key] = await session.query<{ key: number }>(`select hashtext($1) as key`, ['pgevents.migrate']);
    await session.query(`select pg_advisory_lock($1, $2)`, [MIGRATE_LOCK_NAMESPACE, key?.key ?? 0]);
    try {
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
        if (!file || file.checksum !== done.checksum) throw new MigrationChecksumError(schema, done.name);
      }

      const appliedNow: string[] = [];
      for (const file of files) {
        if (applied.some((done) => done.id === file.id)) continue;
        // Each migration in a transaction of its own, so that a failed one leaves nothing behind.
        await session.transaction(async (tx) => {
          await tx.script(renderMigration(file, schema));
          await tx.query(`insert into ${schema}.migrations (id, name, checksum) values ($1, $2, $3)`, [
            file.id,
            file.name,
            file.checksum,
          ]);
        });
        appliedNow.push(file.name);
      }
      return { schema, applied: appliedNow, version: Math.max(newest, codeVersion) };
    } finally {
      await session.query(`select pg_advisory_unlock($1, $2)`, [MIGRATE_LOCK_NAMESPACE, key?.key ?? 0]);
    }
  });
}
