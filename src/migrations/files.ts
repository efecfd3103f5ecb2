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
  /**
   * Checksums this migration was recorded with by earlier releases. Migrations 0001–0006 once also
   * held the functions that now live in sql/<concept>/; their tables are unchanged, so a store that
   * applied those texts is at the same place.
   */
  releasedAs: readonly string[];
}

// src/migrations and dist/migrations are both two levels below the package root.
const sqlDir = new URL('../../sql/', import.meta.url);
const migrationsDir = new URL('migrations/', sqlDir);

const releasedChecksums: Readonly<Record<number, readonly string[]>> = {
  1: ['210301dcb23e4a4ddff0ae7cd21123d651b7176b9f429b0afeca660a51cd532d'],
  2: ['ac29b117fb85d5fe6bd7f91c151eaa740ebe4442204c900cd084210a4dfd6161'],
  3: ['c2a4bef1ce90c68b12e6f7166499161bbac733f90b09d43ce2e3190e0530e141'],
  4: ['b785c9a2f0e08e3302eb678dbceea9af0dfbf112ea7052efde5249af2f2f3db8'],
  5: ['79f15f657804b23323edcbb469a48d6b3d7368c1e21971f896552d46befd5c18'],
  6: ['86c1235269c4cd8a82ee323f6ff93683ad5262e40492c6e8792c7e62a0f6038e'],
};

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

let cachedMigrations: MigrationFile[] | undefined;

/** The numbered migration files shipped with this code, in order. */
export function migrationFiles(): MigrationFile[] {
  cachedMigrations ??= readdirSync(migrationsDir)
    .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
    .sort()
    .map((name) => {
      const template = readFileSync(new URL(name, migrationsDir), 'utf8');
      const id = Number.parseInt(name.slice(0, 4), 10);
      return { id, name, template, checksum: sha256(template), releasedAs: releasedChecksums[id] ?? [] };
    });
  return cachedMigrations;
}

export interface DefinitionFile {
  /** The path below sql/, e.g. event-log/append_events.sql. */
  path: string;
  /** The SQL with `{{schema}}` in place of the schema name. */
  template: string;
}

export interface Definitions {
  /** The files in the order they are applied (sql/definitions.txt). */
  files: DefinitionFile[];
  /** sha256 over every file's path and text, in order: applied again when it changes. */
  checksum: string;
}

let cachedDefinitions: Definitions | undefined;

/** The paths listed in sql/definitions.txt, in order. */
export function definitionPaths(): string[] {
  return readFileSync(new URL('definitions.txt', sqlDir), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** The current definitions of the store's functions, views and triggers. */
export function definitionFiles(): Definitions {
  if (!cachedDefinitions) {
    const hash = createHash('sha256');
    const files = definitionPaths().map((path) => {
      const template = readFileSync(new URL(path, sqlDir), 'utf8');
      hash.update(path).update('\0').update(template).update('\0');
      return { path, template };
    });
    cachedDefinitions = { files, checksum: hash.digest('hex') };
  }
  return cachedDefinitions;
}

/** The SQL of a migration or definition for one schema. The schema name is validated to be a plain identifier. */
export function renderMigration(file: { template: string }, schema: string): string {
  return file.template.replaceAll('{{schema}}', schema);
}
