import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { server } from '../support/engines.js';
import { adminUrl } from '../support/server-url.js';

// scripts/citus-contract.sh refuses what is not a Citus coordinator before it runs any test.
const script = fileURLToPath(new URL('../../scripts/citus-contract.sh', import.meta.url));

function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(script, args, { env: { ...process.env, PGEVENTS_TEST_CITUS: '' } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

async function citusInstalled(): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    const { rowCount } = await client.query(`select 1 from pg_available_extensions where name = 'citus'`);
    return Boolean(rowCount);
  } finally {
    await client.end();
  }
}

describe('scripts/citus-contract.sh', () => {
  it('prints its usage and exits 2 without a coordinator URL', async () => {
    const result = await run();
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^usage: scripts\/citus-contract\.sh <coordinator-url>/);
  });

  it.skipIf(server.unavailable !== null)('refuses a PostgreSQL server without Citus (exit 3) and runs no test', async ({ skip }) => {
    if (await citusInstalled()) skip('this server has Citus installed');
    const result = await run(adminUrl());
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/without Citus \(no citus extension is installed on that server\)/);
    expect(result.stdout).not.toMatch(/running \d+ contract test/);
  });
});
