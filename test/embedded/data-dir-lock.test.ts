import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirInUseError, openEventStore } from '../../src/index.js';
import { codeSchemaVersion } from '../../src/migrations/runner.js';
import { rejectionOf } from '../contract/fixtures.js';

// A second process that opens the store, appends one event, says "ready <stream>", and closes the
// store when its stdin ends.
const holderScript = `
  const { openEventStore } = await import(process.env.PGEVENTS_SRC);
  const store = await openEventStore({ dataDir: process.env.PGEVENTS_DATA_DIR });
  const stream = crypto.randomUUID();
  await store.append(stream, [{ type: 'held', body: { pid: process.pid } }]);
  process.stdout.write('ready ' + stream + '\\n');
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await store.close();
    process.exit(0);
  });
`;

function startHolder(dataDir: string): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', holderScript], {
    env: {
      ...process.env,
      PGEVENTS_DATA_DIR: dataDir,
      PGEVENTS_SRC: new URL('../../src/index.ts', import.meta.url).href,
    },
  });
}

/** Resolves with the stream the holder appended to once it holds the store; fails if it exits or takes too long. */
function holderReady(child: ChildProcessWithoutNullStreams, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`holder not ready after ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /ready (\S+)\n/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`holder exited with ${code} before it was ready: ${stderr}`));
    });
  });
}

// A fresh PGlite data dir, and a second process that opens one, take seconds on an idle machine and
// much longer on a loaded one: generous limits, as safety nets.
describe('embedded data-dir lock', { timeout: 180_000 }, () => {
  let root: string;
  let dataDir: string;
  let lockFile: string;
  const stream = randomUUID();

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'pgevents-lock-'));
    dataDir = join(root, 'store');
    lockFile = `${dataDir}.lock`;
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('refuses a second store on the same data dir in this process, and reopens it after close with the events kept', async () => {
    const first = await openEventStore({ dataDir, migrate: true });
    try {
      expect(await first.schemaVersion()).toBe(codeSchemaVersion());
      await first.append(stream, [{ type: 'user_create', body: { name: 'Ada' } }]);
      expect(readFileSync(lockFile, 'utf8')).toBe(`${process.pid}\n`);

      for (const sameDir of [dataDir, `${dataDir}/`, join(dataDir, '..', 'store')]) {
        const error = await rejectionOf(openEventStore({ dataDir: sameDir }));
        expect(error).toBeInstanceOf(DataDirInUseError);
        expect(error).toMatchObject({ code: 'DATA_DIR_IN_USE', pid: process.pid });
        expect((error as Error).message).toContain('this process');
      }
      await first.append(stream, [{ type: 'user_update', body: { name: 'still usable' } }]);
    } finally {
      await first.close();
    }
    expect(existsSync(lockFile)).toBe(false);

    const reopened = await openEventStore({ dataDir });
    try {
      expect((await reopened.readStream(stream)).map((event) => event.version)).toEqual([1, 2]);
    } finally {
      await reopened.close();
    }
  });

  it('refuses a data dir that another process holds, naming its pid, and opens it once that process has closed it', async () => {
    const child = startHolder(dataDir);
    const exited = once(child, 'exit');
    try {
      const childStream = await holderReady(child);
      const error = await rejectionOf(openEventStore({ dataDir }));
      expect(error).toBeInstanceOf(DataDirInUseError);
      expect(error).toMatchObject({ pid: child.pid });
      expect((error as Error).message).toContain(`pid ${child.pid}`);

      child.stdin.end();
      const [code] = await exited;
      expect(code).toBe(0);
      expect(existsSync(lockFile)).toBe(false);

      const reopened = await openEventStore({ dataDir });
      try {
        expect((await reopened.readStream(childStream)).map((event) => event.body)).toEqual([{ pid: child.pid }]);
      } finally {
        await reopened.close();
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('takes over a lock file left by a process that no longer runs', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    expect(() => process.kill(dead, 0)).toThrow();
    writeFileSync(lockFile, `${dead}\n`);
    const store = await openEventStore({ dataDir });
    try {
      expect(readFileSync(lockFile, 'utf8')).toBe(`${process.pid}\n`);
      expect(await store.readStream(stream)).toHaveLength(2);
    } finally {
      await store.close();
    }
    expect(existsSync(lockFile)).toBe(false);
  });

  it('takes over a lock file that names no process', async () => {
    writeFileSync(lockFile, 'not a pid\n');
    const store = await openEventStore({ dataDir });
    await store.close();
    expect(existsSync(lockFile)).toBe(false);
  });
});
