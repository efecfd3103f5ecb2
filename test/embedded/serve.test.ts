import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirInUseError, openEventStore } from '../../src/index.js';
import { waitFor } from '../contract/fixtures.js';

const run = promisify(execFile);

/** The major version of a PostgreSQL client binary on the PATH, or null without one. */
function clientMajor(binary: string): number | null {
  try {
    const match = /(\d+)(?:\.\d+)?/.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
const psqlMajor = clientMajor('psql');
const pgDumpMajor = clientMajor('pg_dump');

async function psql(url: string, sql: string): Promise<string> {
  const { stdout } = await run('psql', [url, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { timeout: 60_000 });
  return stdout.trim();
}

describe.skipIf(psqlMajor === null)('pgevents serve: the embedded store over the PostgreSQL protocol', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgevents-serve-'));
  const dataDir = join(dir, 'data');
  let child: ReturnType<typeof spawn>;
  let url: string;
  let exited: Promise<number | null>;

  beforeAll(async () => {
    const store = await openEventStore({ dataDir, migrate: true });
    await store.execScript(`
      create table public.user_names (uuid uuid primary key, name text);
      create function public.user_created(p_uuid uuid, p_body jsonb) returns void
      language sql set search_path = public, pg_temp
      as $$ insert into user_names values (p_uuid, p_body ->> 'name') $$;`);
    await store.defineProjection({ name: 'user_names', handlers: { user_create: 'public.user_created' }, tables: ['public.user_names'] });
    await store.close();
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--data-dir', dataDir, '--json', 'serve', '--port', '0'], {
      cwd: new URL('../../', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => child.on('exit', resolve));
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed within 120 s: ${output}`)), 120_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        try {
          const printed = JSON.parse(output) as { url: string };
          clearTimeout(timer);
          resolve(printed.url);
        } catch {
          // not the whole JSON yet
        }
      });
      child.on('exit', (code) => reject(new Error(`pgevents serve exited with ${code}: ${output}`)));
    });
  });
  afterAll(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets psql append with a plain INSERT, project it and read it back', async () => {
    expect(url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres\?sslmode=disable$/);
    await psql(url, `insert into pgevents.events (type, uuid, body) values ('user_create', 'a0000000-0000-4000-8000-000000000001', '{"name": "Ada"}')`);
    expect(await psql(url, `select type || ' ' || (body ->> 'name') from pgevents.read_stream('a0000000-0000-4000-8000-000000000001')`)).toBe('user_create Ada');
    expect(await psql(url, 'select name from public.user_names')).toBe('Ada');
    expect(await psql(url, 'show server_version')).toMatch(/^18\./);
  });

  it('serves one session at a time, refuses a second client plainly, and hands the next one a clean session', async () => {
    const first = new pg.Client({ connectionString: url });
    await first.connect();
    await first.query('begin');
    await first.query(`insert into pgevents.events (type, uuid, body) values ('user_create', 'a0000000-0000-4000-8000-000000000002', '{"name": "Grace"}')`);
    await first.query('set application_name = first_client');
    const refused = await psql(url, 'select 1').then(
      () => null,
      (error: { stderr?: string }) => error.stderr ?? '',
    );
    expect(refused).toContain('one session at a time');
    await first.end();
    // The first session ends as its socket closes: wait for the server to take the next one.
    const second = await waitFor(async () => psql(url, 'show application_name').catch(() => undefined), 'the next session');
    // Not the first client's setting (PGlite takes no parameters from a startup packet: '').
    expect(second).not.toBe('first_client');
    expect(await psql(url, `select count(*) from pgevents.events where uuid = 'a0000000-0000-4000-8000-000000000002'`)).toBe('0');
  });

  it('holds the data directory: nobody else opens it meanwhile', async () => {
    await expect(openEventStore({ dataDir })).rejects.toBeInstanceOf(DataDirInUseError);
  });

  it.skipIf(pgDumpMajor === null || pgDumpMajor < 18)('lets pg_dump (18 or newer) dump the store', async () => {
    const { stdout } = await run('pg_dump', [url, '--schema', 'pgevents', '--schema-only'], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    expect(stdout).toContain('CREATE TABLE pgevents.events');
  });

  it('serves a Unix socket where psql looks for one (--socket-dir: <dir>/.s.PGSQL.<port>)', async () => {
    const socketDir = join(dir, 'sockets');
    mkdirSync(socketDir);
    // A second data dir: this one is held by the server above.
    const otherDir = join(dir, 'other');
    const store = await openEventStore({ dataDir: otherDir, migrate: true });
    await store.append('b0000000-0000-4000-8000-000000000001', [{ type: 'user_create', body: { name: 'Edsger' } }]);
    await store.close();
    const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--data-dir', otherDir, '--json', 'serve', '--socket-dir', socketDir, '--port', '6543'], {
      cwd: new URL('../../', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      server.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const printed = await new Promise<{ socket: string }>((resolve, reject) => {
        server.stdout!.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          try {
            resolve(JSON.parse(output) as { socket: string });
          } catch {
            // not the whole JSON yet
          }
        });
        server.on('exit', (code) => reject(new Error(`pgevents serve exited with ${code}: ${output}`)));
      });
      expect(printed.socket).toBe(join(socketDir, '.s.PGSQL.6543'));
      const { stdout } = await run('psql', ['-h', socketDir, '-p', '6543', '-U', 'postgres', '-d', 'postgres', '-X', '-A', '-t', '-c',
        `select body ->> 'name' from pgevents.read_stream('b0000000-0000-4000-8000-000000000001')`], { timeout: 60_000 });
      expect(stdout.trim()).toBe('Edsger');
      const exited = new Promise<number | null>((resolve) => server.on('exit', resolve));
      server.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('stops on SIGINT with exit code 0 and leaves the store as psql wrote it', async () => {
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const store = await openEventStore({ dataDir });
    try {
      expect((await store.readStream('a0000000-0000-4000-8000-000000000001')).map((event) => event.body)).toEqual([{ name: 'Ada' }]);
    } finally {
      await store.close();
    }
  });
});
