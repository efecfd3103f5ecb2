import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backupEmbeddedStore, DataDirInUseError, InvalidArgumentError, openEventStore, restoreEmbeddedStore } from '../../src/index.js';
import { rejectionOf, usersHandlers, usersReadModelSql } from '../contract/fixtures.js';
import { runCli } from '../support/cli.js';

describe('backup and restore of the embedded store', { timeout: 180_000 }, () => {
  let dir: string;
  let dataDir: string;
  const streams = [randomUUID(), randomUUID()];

  /** The events and the users read model of the store in `path`, to compare a restore with. */
  async function contents(path: string) {
    const store = await openEventStore({ dataDir: path });
    try {
      return {
        events: (await store.readAll({ limit: 100_000 })).events,
        users: await store.query('select uuid, name from public.users order by uuid'),
        projections: (await store.listProjections()).map((projection) => projection.name),
      };
    } finally {
      await store.close();
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgevents-backup-'));
    dataDir = join(dir, 'store');
    // The migrated template the suites share, written to a data directory of its own.
    const seed = await PGlite.create(dataDir, { loadDataDir: new Blob([readFileSync(inject('pgliteDump'))]) });
    await seed.close();
    const store = await openEventStore({ dataDir });
    await store.execScript(usersReadModelSql(store.schema));
    await store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
    for (const [n, stream] of streams.entries()) {
      await store.append(stream, [
        { type: 'user_create', body: { name: `user ${n}` } },
        { type: 'user_update', body: { name: `renamed ${n}` } },
      ]);
    }
    await store.close();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('restores into a new data directory the same events, read models and projections', async () => {
    const file = join(dir, 'store.tar.gz');
    const backup = await backupEmbeddedStore(dataDir, file);
    expect(backup.bytes).toBeGreaterThan(0);
    expect(readdirSync(dir).filter((name) => name.includes('.partial-'))).toEqual([]);
    const restored = join(dir, 'restored');
    await restoreEmbeddedStore(file, restored);
    const before = await contents(dataDir);
    expect(before.events).toHaveLength(4);
    expect(before.users).toEqual(streams.map((stream, n) => ({ uuid: stream, name: `renamed ${n}` })).sort((a, b) => a.uuid.localeCompare(b.uuid)));
    expect(await contents(restored)).toEqual(before);
  });

  it('refuses a store that is open, a file that exists, a directory that is not empty, and a file that is not a backup', async () => {
    const store = await openEventStore({ dataDir });
    try {
      expect(await rejectionOf(backupEmbeddedStore(dataDir, join(dir, 'open.tar.gz')))).toBeInstanceOf(DataDirInUseError);
    } finally {
      await store.close();
    }
    expect(existsSync(join(dir, 'open.tar.gz'))).toBe(false);
    const existing = join(dir, 'exists.tar.gz');
    writeFileSync(existing, 'keep me');
    await expect(backupEmbeddedStore(dataDir, existing)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'file' });
    expect(readFileSync(existing, 'utf8')).toBe('keep me');
    await expect(backupEmbeddedStore(join(dir, 'nowhere'), join(dir, 'x.tar.gz'))).rejects.toMatchObject({ argument: 'dataDir' });

    const file = join(dir, 'again.tar.gz');
    await backupEmbeddedStore(dataDir, file);
    await expect(restoreEmbeddedStore(file, dataDir)).rejects.toMatchObject({ argument: 'dataDir' });
    const garbage = join(dir, 'garbage.tar.gz');
    writeFileSync(garbage, 'not a backup');
    const target = join(dir, 'from-garbage');
    expect(await rejectionOf(restoreEmbeddedStore(garbage, target))).toBeInstanceOf(InvalidArgumentError);
    expect(existsSync(target)).toBe(false);
  });

  it('backs up and restores from the CLI, and refuses a server', async () => {
    const file = join(dir, 'cli.tar.gz');
    const backup = await runCli(['--data-dir', dataDir, '--json', 'backup', file]);
    expect(backup.exitCode).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ file, bytes: expect.any(Number) });
    const restored = join(dir, 'cli-restored');
    const restore = await runCli(['--data-dir', restored, 'restore', file]);
    expect(restore.exitCode).toBe(0);
    expect(restore.stdout).toContain(`restored ${file} into ${restored}`);
    expect((await contents(restored)).events).toHaveLength(4);
    const server = await runCli(['--database-url', 'postgres://nobody@127.0.0.1:1/none', 'backup', join(dir, 'server.tar.gz')]);
    expect(server.exitCode).not.toBe(0);
    expect(server.stderr).toContain('pg_dump');
  });
});
