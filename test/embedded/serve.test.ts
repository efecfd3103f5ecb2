import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirInUseError, openEventStore } from '../../src/index.js';
import { waitFor } from '../contract/fixtures.js';
import { findPgClient } from '../support/pg-client.js';

const run = promisify(execFile);

const psqlClient = findPgClient('psql', 0);
// PGlite is PostgreSQL 18, and pg_dump refuses a newer server than itself. CI installs one
// (scripts/install-pg-client-18.mjs); elsewhere the test runs when one is found.
const pgDump = findPgClient('pg_dump', 18);
if (!pgDump && process.env.CI === 'true') {
  throw new Error('CI=true needs pg_dump 18 or newer for the serve test: run node scripts/install-pg-client-18.mjs');
}

/** Starts `pgevents serve` on a data dir and waits for the JSON it prints (URL, socket). */
async function startServe(dataDir: string, args: string[]): Promise<{ child: ChildProcess; printed: { url: string; socket: string | null }; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--data-dir', dataDir, '--json', 'serve', ...args], {
    cwd: new URL('../../', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let output = '';
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const printed = await new Promise<{ url: string; socket: string | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within 120 s: ${output}`)), 120_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      try {
        const parsed = JSON.parse(output) as { url: string; socket: string | null };
        clearTimeout(timer);
        resolve(parsed);
      } catch {
        // not the whole JSON yet
      }
    });
    child.on('exit', (code) => reject(new Error(`pgevents serve exited with ${code}: ${output}`)));
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return { child, printed, exited };
}

async function psql(url: string, sql: string): Promise<string> {
  const { stdout } = await run('psql', [url, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { timeout: 60_000 });
  return stdout.trim();
}

describe.skipIf(psqlClient === null)('pgevents serve: the embedded store over the PostgreSQL protocol', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgevents-serve-'));
  const dataDir = join(dir, 'data');
  let child: ChildProcess;
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
    ({ child, exited, printed: { url } } = await startServe(dataDir, ['--port', '0']));
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

  it.skipIf(pgDump === null)('lets pg_dump (18 or newer) dump the store, and psql restore the dump into another served store (COPY FROM STDIN)', async () => {
    const dumpFile = join(dir, 'dump.sql');
    await run(pgDump!.path, [url, '--file', dumpFile], { timeout: 120_000 });
    expect(readFileSync(dumpFile, 'utf8')).toContain('CREATE TABLE pgevents.events');
    const snapshot = async (target: string) => ({
      events: await psql(target, `select string_agg(concat_ws(' ', id, uuid, version, type, body, event_id, transaction_id), ',' order by id) from pgevents.events`),
      names: await psql(target, 'select string_agg(name, \',\' order by name) from public.user_names'),
    });
    const original = await snapshot(url);
    expect(original.names).toContain('Ada');

    const restoredDir = join(dir, 'restored');
    const empty = await openEventStore({ dataDir: restoredDir, migrate: false });
    await empty.close();
    const restored = await startServe(restoredDir, ['--port', '0']);
    try {
      await run('psql', [restored.printed.url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--file', dumpFile], { timeout: 120_000 });
      expect(await snapshot(restored.printed.url)).toEqual(original);
      // The restored store goes on: the next append takes the next position and fires the projection.
      await psql(restored.printed.url, `insert into pgevents.events (type, uuid, body) values ('user_create', 'a0000000-0000-4000-8000-000000000009', '{"name": "Barbara"}')`);
      expect(await psql(restored.printed.url, 'select name from public.user_names order by name')).toBe('Ada\nBarbara');
      // A COPY FROM STDIN that fails (bad data, or the client's CopyFail) is reported and leaves the session usable.
      const client = new pg.Client({ connectionString: restored.printed.url });
      await client.connect();
      try {
        for (const finish of ['bad data', 'copy fail'] as const) {
          const copy = client.query(copyFrom('copy public.user_names from stdin'));
          const failed = new Promise<Error>((resolve) => copy.on('error', resolve));
          if (finish === 'bad data') copy.end('not-a-uuid\tEve\n');
          else {
            copy.write('a0000000-0000-4000-8000-00000000000a\tEve\n');
            copy.destroy(new Error('the client gave up'));
          }
          expect((await failed).message).toMatch(finish === 'bad data' ? /invalid input syntax for type uuid/ : /the client gave up/);
        }
        expect((await client.query('select count(*)::int as n from public.user_names')).rows).toEqual([{ n: 2 }]);
      } finally {
        await client.end();
      }
    } finally {
      restored.child.kill('SIGINT');
      await restored.exited;
    }
  });

  it('serves a Unix socket where psql looks for one (--socket-dir: <dir>/.s.PGSQL.<port>)', async () => {
    const socketDir = join(dir, 'sockets');
    mkdirSync(socketDir);
    // A second data dir: this one is held by the server above.
    const otherDir = join(dir, 'other');
    const store = await openEventStore({ dataDir: otherDir, migrate: true });
    await store.append('b0000000-0000-4000-8000-000000000001', [{ type: 'user_create', body: { name: 'Edsger' } }]);
    await store.close();
    const { child: server, printed, exited: serverExited } = await startServe(otherDir, ['--socket-dir', socketDir, '--port', '6543']);
    try {
      expect(printed.socket).toBe(join(socketDir, '.s.PGSQL.6543'));
      const { stdout } = await run('psql', ['-h', socketDir, '-p', '6543', '-U', 'postgres', '-d', 'postgres', '-X', '-A', '-t', '-c',
        `select body ->> 'name' from pgevents.read_stream('b0000000-0000-4000-8000-000000000001')`], { timeout: 60_000 });
      expect(stdout.trim()).toBe('Edsger');
      server.kill('SIGINT');
      expect(await serverExited).toBe(0);
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
