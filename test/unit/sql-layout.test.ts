import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { definitionFiles, definitionPaths, migrationFiles } from '../../src/migrations/files.js';
import { sqlStatements } from '../support/sql-statements.js';

const sqlDir = new URL('../../sql/', import.meta.url);

/** Every .sql file below sql/ but the numbered migrations and the generated dump. */
function definitionFilesOnDisk(): string[] {
  return readdirSync(sqlDir, { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.sql') && !path.startsWith('migrations/') && path !== 'schema.sql')
    .sort();
}

const objectPattern = /^create\s+(?:or\s+replace\s+)?(function|procedure|view|trigger)\s+(?:\{\{schema\}\}\.)?([a-z_0-9]+)/i;

/** The objects a script defines at its top level (not generated code inside a function's body). */
function topLevelObjects(sql: string): string[] {
  return sqlStatements(sql).flatMap((statement) => {
    const match = objectPattern.exec(statement);
    return match ? [`${match[1]!.toLowerCase()} ${match[2]}`] : [];
  });
}

describe('the SQL layout', () => {
  it('lists every definition file in sql/definitions.txt, once, and nothing else', () => {
    const listed = definitionPaths();
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(definitionFilesOnDisk());
  });

  it('defines each function, procedure, view and trigger in one file only', () => {
    const definedIn = new Map<string, string[]>();
    for (const file of definitionFiles().files) {
      for (const object of topLevelObjects(file.template)) definedIn.set(object, [...(definedIn.get(object) ?? []), file.path]);
    }
    expect(definedIn.size).toBeGreaterThan(60);
    expect([...definedIn].filter(([, files]) => files.length > 1)).toEqual([]);
    expect(definedIn.get('function append_events')).toEqual(['event-log/append_events.sql']);
  });

  it('writes definitions as idempotent create or replace', () => {
    for (const file of definitionFiles().files) {
      const plainCreates = sqlStatements(file.template).filter((statement) => /^create\s+(?!or\s+replace)(function|procedure|view|trigger)\b/i.test(statement));
      expect({ file: file.path, plainCreates }).toEqual({ file: file.path, plainCreates: [] });
    }
  });

  it('keeps functions, procedures, views and triggers out of the numbered migrations', () => {
    for (const migration of migrationFiles()) {
      expect({ migration: migration.name, objects: topLevelObjects(migration.template) }).toEqual({
        migration: migration.name,
        objects: [],
      });
    }
  });

  it('keeps the released texts of migrations 0001-0006 recognised', () => {
    for (const migration of migrationFiles().filter((file) => file.id <= 6)) {
      const released = readFileSync(new URL(`../fixtures/released-migrations/${migration.name}`, import.meta.url), 'utf8');
      expect(migration.releasedAs).toContain(createHash('sha256').update(released).digest('hex'));
    }
  });
});
