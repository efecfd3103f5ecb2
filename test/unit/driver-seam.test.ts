import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Reads the source, no database: the layering the style guide asks for, checked on every run.
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Every .ts file under a folder of src/, as a path relative to src/ with forward slashes. */
function sourceFiles(folder = ''): string[] {
  return readdirSync(join(SRC, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(SRC, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

const SPECIFIERS = [
  // Import and export declarations, type-only ones too, over several lines: they start a line.
  /^[ \t]*(?:import|export)\b[^;]*?\bfrom\s*(['"])([^'"]+)\1/gm,
  // Side-effect imports.
  /^[ \t]*import\s*(['"])([^'"]+)\1/gm,
  // import('…') and require('…') anywhere, import types (`import('pg').Pool`) too.
  /\b(?:import|require)\s*\(\s*(['"`])([^'"`]+)\1/g,
];

/** The module specifiers a file names. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  return SPECIFIERS.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[2] ?? ''));
}

const DRIVER = /^(?:pg|pg-[a-z0-9-]+|@electric-sql\/pglite)(?:\/|$)/;

describe('the driver seam', () => {
  it('finds the driver imports where they belong, so that the check below can fail', () => {
    expect(importsOf('db/pg-executor.ts')).toEqual(expect.arrayContaining(['pg', 'pg-copy-streams']));
    expect(importsOf('db/pglite-executor.ts')).toContain('@electric-sql/pglite');
  });

  it('keeps pg, pg-copy-streams and PGlite behind src/db: no other file imports a driver, not even for a type', () => {
    const outside = sourceFiles()
      .filter((file) => !file.startsWith('db/'))
      .flatMap((file) => importsOf(file).filter((specifier) => DRIVER.test(specifier)).map((specifier) => `${file} imports ${specifier}`));
    expect(outside).toEqual([]);
  });
});

describe('the console', () => {
  const uiFiles = sourceFiles('ui');

  it('uses only the public API: it imports its own files, node built-ins and src/index.ts', () => {
    const publicApi = join(SRC, 'index.ts');
    const allowed = (file: string, specifier: string) => {
      if (specifier.startsWith('node:')) return true;
      if (!specifier.startsWith('.')) return false;
      const target = resolve(dirname(join(SRC, file)), specifier).replace(/\.js$/, '.ts');
      return target === publicApi || !relative(join(SRC, 'ui'), target).startsWith('..');
    };
    const stray = uiFiles.flatMap((file) =>
      importsOf(file)
        .filter((specifier) => !allowed(file, specifier))
        .map((specifier) => `${file} imports ${specifier}`),
    );
    expect(uiFiles.length).toBeGreaterThan(0);
    expect(stray).toEqual([]);
  });

  it('runs no SQL of its own: every read goes through the store', () => {
    const sql = uiFiles.filter((file) => /\.(?:query|execScript)\s*[<(]/.test(readFileSync(join(SRC, file), 'utf8')));
    expect(sql).toEqual([]);
  });
});
