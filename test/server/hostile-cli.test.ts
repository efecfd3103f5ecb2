import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/index.js';
import { countEvents } from '../contract/fixtures.js';
import { server, type TestStore } from '../support/engines.js';
import { cleanUp, createLoginRoles, dropRoles } from '../support/roles.js';

const repoRoot = new URL('../../', import.meta.url).pathname;
/** A marker placed in bodies: error output must never repeat event payloads. */
const SECRET = 'pgevents-secret-payload-5d2a';

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Builds the CLI from this checkout's src into a directory of its own (tsc takes a second or two;
 * node then starts the CLI in a fraction of the time tsx needs), with the package's package.json,
 * sql and node_modules linked beside it as the CLI expects.
 */
function buildCli(): Promise<{ main: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pgevents-cli-'));
  for (const entry of ['package.json', 'sql', 'node_modules', 'examples']) symlinkSync(join(repoRoot, entry), join(dir, entry));
  const tsc = join(repoRoot, 'node_modules', '.bin', 'tsc');
  return new Promise((resolve, reject) => {
    // Type errors elsewhere in the tree do not stop tsc from emitting; a missing main.js does.
    execFile(tsc, ['-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')], { cwd: repoRoot }, () => {
      const main = join(dir, 'dist', 'cli', 'main.js');
      if (existsSync(main)) resolve({ main, dir });
      else reject(new Error(`tsc did not emit ${main}`));
    });
  });
}

const NASTY = [
  "'",
  '"',
  ';',
  "'; drop table pgevents.events; --",
  '$(touch /tmp/pgevents-pwned)',
  '`id`',
  '\\',
  '\ud800',
  '😀',
  'é',
  ' ',
  '\n',
  '%s',
  '--json',
  '-x',
  '--',
  'a'.repeat(70),
];
const nastyArg = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'binary', maxLength: 16 }).map((text) => text.replaceAll('\u0000', '')),
  fc.array(fc.constantFrom(...NASTY, 'a', '_'), { maxLength: 4 }).map((parts) => parts.join('')),
);
const streamArg = fc.oneof(
  { weight: 3, arbitrary: fc.uuid() },
  fc.uuid().map((uuid) => uuid.toUpperCase()),
  fc.uuid().map((uuid) => uuid.replaceAll('-', '')),
  nastyArg,
);
const typeArg = fc.oneof({ weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.:/-]{0,20}$/) }, nastyArg, fc.constant('a'.repeat(201)));
const bodyArg = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }).map((body) => JSON.stringify(body)) },
  fc.constantFrom(
    '{"a": 1, "a": 2}',
    '{"n": 1e400}',
    '{"n": -0}',
    '{"s": "\\u0000"}',
    '{"s": "\\ud800"}',
    `{"s": "${SECRET}\\ud800"}`,
    `{"s": "${SECRET}\\u0000"}`,
    `${'{"d":'.repeat(5000)}1${'}'.repeat(5000)}`,
    `${'['.repeat(20000)}${']'.repeat(20000)}`,
    '[]',
    'null',
    '"text"',
    '{"a": ',
    '',
    `{"s": "${'x'.repeat(100_000)}"}`,
  ),
  nastyArg,
);
const expectedArg = fc.oneof(
  fc.constantFrom('any', 'no_stream', 'stream_exists', '0', '1', '-1', '1.5', '1e3', '', '99999999999999999999', 'ANY'),
  nastyArg,
);
const command = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(streamArg, typeArg, bodyArg, fc.option(expectedArg, { nil: undefined }), fc.option(bodyArg, { nil: undefined }), fc.option(fc.oneof(fc.uuid(), nastyArg), { nil: undefined }))
      .map(([stream, type, body, expected, metadata, id]) => [
        'append',
        stream,
        type,
        body,
        ...(expected === undefined ? [] : ['--expected-version', expected]),
        ...(metadata === undefined ? [] : ['--metadata', metadata]),
        ...(id === undefined ? [] : ['--id', id]),
      ]),
  },
  fc.tuple(fc.oneof(fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/), nastyArg)).map(([name]) => ['replay', name]),
  fc.tuple(nastyArg).map(([role]) => ['grant', '--writer', role]),
  fc.tuple(streamArg).map(([stream]) => ['read', stream]),
);

// Two dozen generated command lines, each a CLI run: seconds on an idle machine, more on a loaded one.
describe.skipIf(server.unavailable !== null)('hostile input through the CLI (server)', { timeout: 180_000 }, () => {
  let t: TestStore;
  let store: EventStore;
  let cli: { main: string; dir: string };
  const longRole = `pge_x_${randomUUID().replaceAll('-', '')}`.padEnd(63, 'r');

  beforeAll(async () => {
    await Promise.all([
      server.createStore().then((created) => {
        t = created;
      }),
      buildCli().then((built) => {
        cli = built;
      }),
    ]);
    store = t.store;
    await createLoginRoles([longRole]);
  });
  afterAll(async () => {
    await cleanUp(
      () => t?.dispose(),
      () => dropRoles([longRole]),
      () => cli && rmSync(cli.dir, { recursive: true, force: true }),
    );
  });

  function runCli(args: string[]): Promise<CliRun> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [cli.main, '--database-url', t.url!, '--json', ...args],
        { cwd: repoRoot, env: { ...process.env, PGEVENTS_DEBUG: '', DATABASE_URL: '' }, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  async function catalogue() {
    const [row] = await store.query(
      `select (select count(*) from pg_trigger where tgrelid = 'pgevents.events'::regclass)::int as triggers,
              (select count(*) from pg_proc where pronamespace = 'pgevents'::regnamespace)::int as functions,
              (select count(*) from pgevents.projections)::int as projections,
              (select count(*) from pgevents.roles)::int as roles`,
    );
    return row;
  }

  it('answers random and adversarial command lines with a result or a typed error, and exit 0, 1 or 2', async () => {
    const before = await catalogue();
    await fc.assert(
      fc.asyncProperty(command, async (args) => {
        const events = await countEvents(store);
        const run = await runCli(args);
        const context = `${JSON.stringify(args).slice(0, 300)} → ${run.code} ${run.stdout.slice(0, 300)} ${run.stderr.slice(0, 300)}`;
        expect([0, 1, 2], context).toContain(run.code);
        expect(run.stderr, context).not.toMatch(/\n\s+at /);
        expect(run.stdout + run.stderr, context).not.toContain(SECRET);
        if (run.code === 0) {
          expect(() => JSON.parse(run.stdout), context).not.toThrow();
          expect(await countEvents(store), context).toBe(events + (args[0] === 'append' ? 1 : 0));
          return;
        }
        expect(await countEvents(store), context).toBe(events);
        if (run.stdout.trim() === '') {
          // commander's own usage errors (an unknown option, a missing argument) are plain text.
          expect(run.code, context).toBe(2);
          expect(run.stderr.trim(), context).not.toBe('');
          return;
        }
        const { error } = JSON.parse(run.stdout) as { error: { code: string; message: string } };
        // A pgevents error code, not a passed-through SQLSTATE or the catch-all ERROR.
        expect(error.code, context).toMatch(/^[A-Z][A-Z_]+$/);
        expect(['ERROR', 'CONNECTION_FAILED'], context).not.toContain(error.code);
        expect(error.message.length, context).toBeGreaterThan(0);
      }),
      { numRuns: 24 },
    );
    expect(await catalogue()).toEqual(before);
    expect(await store.query('select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('refuses JSON the CLI parses that names a key twice, naming the key, and stores -0 as 0', async () => {
    const stream = randomUUID();
    const refused = await runCli(['append', stream, 'hostile', '{"a": 1, "a": 2}']);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout).error.message).toContain('"a"');
    expect(await store.readStream(stream)).toEqual([]);
    const run = await runCli(['append', stream, 'hostile', '{"z": -0}']);
    expect(run.code).toBe(0);
    const [event] = await store.readStream(stream);
    expect(event?.body).toEqual({ z: 0 });
  });

  it('refuses a role name longer than 63 bytes, even when its first 63 bytes name a role', async () => {
    const run = await runCli(['grant', '--writer', `${longRole}x`]);
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
    expect(await store.query(`select count(*)::int as n from pgevents.roles`)).toEqual([{ n: 0 }]);
    const [privilege] = await store.query(`select has_table_privilege($1, 'pgevents.events', 'insert') as can_insert`, [longRole]);
    expect(privilege).toEqual({ can_insert: false });
  });
});
