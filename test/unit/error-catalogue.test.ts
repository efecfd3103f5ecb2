import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ExitCode, exitCodeFor } from '../../src/cli/exit-codes.js';
import { translateError } from '../../src/db/translate-error.js';
import { type CatalogueEntry, catalogueEntryForCode, errorCatalogue } from '../../src/error-catalogue.js';
import * as errors from '../../src/errors.js';
import { ConcurrencyError, PgEventsError } from '../../src/errors.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function filesUnder(dir: string, extension: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path, extension);
    return entry.name.endsWith(extension) ? [path] : [];
  });
}

/** Where each match of a pattern is: `file:line`. */
function occurrences(files: string[], pattern: RegExp): { match: RegExpExecArray; at: string }[] {
  return files.flatMap((file) => {
    const text = readFileSync(join(root, file), 'utf8');
    return [...text.matchAll(pattern)].map((match) => ({
      match,
      at: `${file}:${text.slice(0, match.index).split('\n').length}`,
    }));
  });
}

function isErrorClass(value: unknown): value is typeof PgEventsError {
  return typeof value === 'function' && (value === PgEventsError || value.prototype instanceof PgEventsError);
}

/** An instance of an entry's error, built from placeholder arguments (only its class and code matter here). */
function instanceOf(entry: CatalogueEntry): PgEventsError {
  if (entry.errorClass === PgEventsError) return new PgEventsError(entry.code, 'placeholder');
  return Reflect.construct(entry.errorClass, ['x', 'x', 'x', 'x']) as PgEventsError;
}

const sqlStates = errorCatalogue.flatMap((entry) => (entry.sqlState === null ? [] : [entry.sqlState]));

describe('the error catalogue', () => {
  it('holds each code, each class and each SQLSTATE once', () => {
    const codes = errorCatalogue.map((entry) => entry.code);
    const classes = errorCatalogue.map((entry) => entry.errorClass).filter((errorClass) => errorClass !== PgEventsError);
    expect(new Set(codes).size).toBe(codes.length);
    expect(new Set(classes).size).toBe(classes.length);
    expect(new Set(sqlStates).size).toBe(sqlStates.length);
    for (const state of sqlStates) expect(state).toMatch(/^PE[0-9A-Z]{3}$/);
  });

  it('has every PE SQLSTATE the SQL under sql/ raises or catches', () => {
    const files = filesUnder('sql', '.sql');
    expect(files.length).toBeGreaterThan(0);
    // Any quoted PE state: `using errcode = 'PE001'`, `raise sqlstate 'PE001'`, `when sqlstate 'PE023'`,
    // `coalesce(…, 'PE024')`, `v_state in ('57014', 'PE007')`, also inside dynamic SQL (''PE001'').
    const found = occurrences(files, /'(PE[0-9A-Z]{3})'/g);
    expect(found.length).toBeGreaterThan(0);
    const missing = found.filter(({ match }) => !sqlStates.includes(match[1] as (typeof sqlStates)[number]));
    expect(missing.map(({ match, at }) => `${match[1]} at ${at}`), 'SQLSTATEs raised in sql/ but not in src/error-catalogue.ts').toEqual([]);
    const raised = new Set(found.map(({ match }) => match[1]));
    expect(sqlStates.filter((state) => !raised.has(state)), 'SQLSTATEs of the catalogue no SQL raises').toEqual([]);
  });

  it('has every error class of src/errors.ts, with the code its instances carry', () => {
    const classes = Object.values(errors).filter(isErrorClass).filter((errorClass) => errorClass !== PgEventsError);
    const catalogued = new Set<unknown>(errorCatalogue.map((entry) => entry.errorClass));
    expect(classes.filter((errorClass) => !catalogued.has(errorClass)).map((errorClass) => errorClass.name)).toEqual([]);
    for (const entry of errorCatalogue) {
      const error = instanceOf(entry);
      expect(error.constructor, entry.code).toBe(entry.errorClass);
      expect(error.code, entry.errorClass.name).toBe(entry.code);
    }
  });

  it('has every code raised as a plain PgEventsError in src/', () => {
    const found = occurrences(filesUnder('src', '.ts'), /new PgEventsError\(\s*'([^']+)'/g);
    const missing = found.filter(({ match }) => catalogueEntryForCode(match[1] ?? '')?.errorClass !== PgEventsError);
    expect(missing.map(({ match, at }) => `${match[1]} at ${at}`)).toEqual([]);
  });

  it('translates each PE SQLSTATE into exactly its class', () => {
    for (const entry of errorCatalogue) {
      if (entry.sqlState === null) continue;
      const translated = translateError({ code: entry.sqlState, message: 'refused', detail: '{}' }, 'pgevents');
      expect((translated as object).constructor, entry.sqlState).toBe(entry.errorClass);
      expect(translated, entry.sqlState).toMatchObject({ code: entry.code });
      expect((translated as Error).cause, entry.sqlState).toMatchObject({ code: entry.sqlState });
    }
  });

  it("gives ConcurrencyError the expected version as SQL reports it, as an ExpectedVersion", () => {
    const conflict = (expected: unknown) =>
      translateError({ code: 'PE001', message: 'refused', detail: JSON.stringify({ stream: 's', expected, actual: 2 }) }, 'pgevents');
    expect(conflict('no_stream')).toMatchObject({ expected: 'no_stream', actual: 2 });
    expect(conflict('stream_exists')).toMatchObject({ expected: 'stream_exists' });
    expect(conflict('3')).toMatchObject({ expected: 3 });
    expect(conflict(0)).toMatchObject({ expected: 0 });
    expect((conflict('3') as ConcurrencyError).message).toBe('Wrong expected version: 3 (stream s is at version 2)');
  });

  it('gives the CLI exit code of each error from the catalogue', () => {
    for (const entry of errorCatalogue) {
      expect(exitCodeFor(instanceOf(entry)), entry.code).toBe(ExitCode[entry.exit]);
    }
  });
});

interface DocsRow {
  at: string;
  className: string | undefined;
  code: string | undefined;
  sqlStates: string[] | undefined;
  exit: number | undefined;
}

const docsPages = ['errors.md', 'subscriptions.md', 'rebuild.md'] as const;

/** The rows of a page's error tables: those whose header has a `TS class` column. */
function errorRows(page: string): DocsRow[] {
  const lines = readFileSync(join(root, 'docs', page), 'utf8').split('\n');
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim());
  const ticked = (cell: string | undefined, pattern: RegExp) =>
    [...(cell ?? '').matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? '').filter((token) => pattern.test(token));
  const rows: DocsRow[] = [];
  let header: string[] | null = null;
  for (const [index, line] of lines.entries()) {
    if (!line.startsWith('|')) {
      header = null;
      continue;
    }
    const row = cells(line);
    if (header === null) {
      header = row;
      continue;
    }
    if (row.every((cell) => /^-+$/.test(cell))) continue;
    const column = (pattern: RegExp) => header!.findIndex((name) => pattern.test(name));
    const classColumn = column(/TS class/);
    if (classColumn < 0) continue;
    // A column of its own for the code, or `TS class (`code`)`.
    const codeColumn = column(/^`code`$/) >= 0 ? column(/^`code`$/) : column(/\(`code`\)/);
    const stateColumn = column(/^SQLSTATE$/);
    const exitColumn = column(/^exit$/);
    const exitCell = exitColumn < 0 ? undefined : row[exitColumn];
    rows.push({
      at: `docs/${page}:${index + 1}`,
      className: ticked(row[classColumn], /^[A-Z][A-Za-z]*Error$/)[0],
      code: codeColumn < 0 ? undefined : ticked(row[codeColumn], /^[A-Z][A-Z_]+$/)[0],
      sqlStates: stateColumn < 0 ? undefined : ticked(row[stateColumn], /^PE[0-9A-Z]{3}$/),
      exit: exitCell === undefined ? undefined : /^[0-9]+$/.test(exitCell) ? Number(exitCell) : Number.NaN,
    });
  }
  return rows;
}

describe('the docs of the error catalogue', () => {
  const rows = docsPages.flatMap(errorRows);

  it('agree with the catalogue on every row: class, code, SQLSTATE and exit code', () => {
    expect(rows.length).toBeGreaterThan(0);
    const wrong: string[] = [];
    for (const row of rows) {
      const entry =
        (row.code === undefined ? undefined : catalogueEntryForCode(row.code)) ??
        errorCatalogue.find((candidate) => candidate.errorClass !== PgEventsError && candidate.errorClass.name === row.className);
      if (!entry) {
        wrong.push(`${row.at}: ${row.className ?? '?'} (${row.code ?? '?'}) is not in src/error-catalogue.ts`);
        continue;
      }
      const expected = {
        className: entry.errorClass.name,
        code: row.code === undefined ? undefined : entry.code,
        sqlStates: row.sqlStates === undefined ? undefined : entry.sqlState === null ? [] : [entry.sqlState],
        exit: row.exit === undefined ? undefined : ExitCode[entry.exit],
      };
      const actual = { className: row.className, code: row.code, sqlStates: row.sqlStates, exit: row.exit };
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        wrong.push(`${row.at}: ${JSON.stringify(actual)}, the catalogue says ${JSON.stringify(expected)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('have a full row for every entry on the page the catalogue names', () => {
    const missing = errorCatalogue
      .filter(
        (entry) =>
          !rows.some(
            (row) =>
              row.at.startsWith(`docs/${entry.docs}:`) &&
              row.code === entry.code &&
              row.sqlStates !== undefined &&
              row.exit !== undefined,
          ),
      )
      .map((entry) => `${entry.code} in docs/${entry.docs}`);
    expect(missing).toEqual([]);
  });

  it('mention no PE SQLSTATE the catalogue does not have', () => {
    const found = occurrences([...filesUnder('docs', '.md'), 'README.md'], /\bPE[0-9][0-9A-Z]{2}\b/g);
    const unknown = found.filter(({ match }) => !sqlStates.includes(match[0] as (typeof sqlStates)[number]));
    expect(unknown.map(({ match, at }) => `${match[0]} at ${at}`)).toEqual([]);
  });
});
