import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DataDirInUseError } from '../errors.js';

const heldInThisProcess = new Set<string>();

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(lockFile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(lockFile, 'utf8').split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * PGlite corrupts a data directory that two instances open at once, so the embedded engine takes
 * an exclusive lock file beside it (`<dataDir>.lock`, holding the owner's pid). A lock left by a
 * process that no longer runs is taken over.
 * @throws {DataDirInUseError} when a live process (or this one) holds the lock.
 */
export function lockDataDir(dataDir: string): () => void {
  const dir = resolve(dataDir);
  const lockFile = `${dir}.lock`;
  if (heldInThisProcess.has(dir)) throw new DataDirInUseError(dataDir, process.pid);
  mkdirSync(dirname(dir), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      heldInThisProcess.add(dir);
      const release = () => {
        if (!heldInThisProcess.delete(dir)) return;
        process.off('exit', release);
        try {
          if (readOwner(lockFile) === process.pid) unlinkSync(lockFile);
        } catch {
          // already gone
        }
      };
      process.on('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(lockFile);
      if (owner !== undefined && owner !== process.pid && processIsAlive(owner)) {
        throw new DataDirInUseError(dataDir, owner);
      }
      if (owner === process.pid) throw new DataDirInUseError(dataDir, owner);
      try {
        unlinkSync(lockFile);
      } catch {
        // another process removed the stale lock first; try again
      }
    }
  }
  throw new DataDirInUseError(dataDir, readOwner(lockFile));
}
