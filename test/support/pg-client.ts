import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** A PostgreSQL client program and its major version. */
export interface PgClientProgram {
  path: string;
  major: number;
}

function major(binary: string): number | null {
  try {
    const match = /\(PostgreSQL\)\s+(\d+)/.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/**
 * The newest `program` (pg_dump, pg_restore, psql) of at least `minimum`: PGEVENTS_TEST_<PROGRAM>,
 * the PostgreSQL 18 client that scripts/install-pg-client-18.mjs installs (CI runs it), or the PATH.
 */
export function findPgClient(program: string, minimum: number): PgClientProgram | null {
  const candidates = [
    process.env[`PGEVENTS_TEST_${program.toUpperCase()}`],
    join(new URL('../../', import.meta.url).pathname, 'node_modules', '.cache', 'pgevents-pg-client-18', 'bin', program),
    program,
  ].filter((path): path is string => path !== undefined && (path === program || existsSync(path)));
  for (const path of candidates) {
    const found = major(path);
    if (found !== null && found >= minimum) return { path, major: found };
  }
  return null;
}
