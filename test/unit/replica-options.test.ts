import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, openEventStore } from '../../src/index.js';

describe('openEventStore: replicaUrl', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('is refused on the embedded engine (it has no standby), before the data directory is opened', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'pgevents-replica-'));
    dirs.push(parent);
    const dataDir = join(parent, 'store');
    const error = await openEventStore({ dataDir, replicaUrl: 'postgres://reader@standby.invalid/app' }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).message).toMatch(/embedded engine has no standby/);
    expect(existsSync(dataDir)).toBe(false);
  });
});
