import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

export interface MigrationFile {
  /** The number at the start of the file name. */
  id: number;
  /** The file name, e.g. 0001_event_log.sql. */
  name: string;
  /** The SQL with `{{schema}}` in place of the schema name. */
  template: string;
  /** sha256 of the template: what a released file must keep. */
  checksum: string;
}

// src/migrations and dist/migrations are both two levels below the package root.
const migrationsDir = new URL('../../sql/migrations/', import.meta.url);

let cached: MigrationFile[] | undefined;

/** The migration files shipped with this code, in order. */
export function migrationFiles(): MigrationFile[] {
  cached ??= readdirSync(migrationsDir)
    .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
    .sort()
    .map((name) => {
      const template = readFileSync(new URL(name, migrationsDir), 'utf8');
      return {
        id: Number.parseInt(name.slice(0, 4), 10),
        name,
        template,
        checksum: createHash('sha256').update(template).digest('hex'),
      };
    });
  return cached;
}

/** The SQL of a migration for one schema. The schema name is validated to be a plain identifier. */
export function renderMigration(file: MigrationFile, schema: string): string {
  return file.template.replaceAll('{{schema}}', schema);
}
