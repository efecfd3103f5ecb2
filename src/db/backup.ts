import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import { InvalidArgumentError } from '../errors.js';
import { lockDataDir } from './data-dir-lock.js';

export interface BackupResult {
  dataDir: string;
  file: string;
  /** Size of the backup file. */
  bytes: number;
}

function isEmbeddedDataDir(dataDir: string): boolean {
  return existsSync(dataDir) && statSync(dataDir).isDirectory() && existsSync(`${dataDir}/PG_VERSION`);
}

/**
 * Writes a consistent copy of an embedded store's data directory to `file` (a gzipped tar, as
 * PGlite dumps it). The data directory is opened exclusively meanwhile, so no other process
 * writes to it; the file is written under a temporary name and renamed, so a failed backup leaves
 * no partial file behind.
 * @throws {DataDirInUseError} when another process (or this one) has the store open: close it first.
 * @throws {InvalidArgumentError} when `dataDir` holds no embedded store, or `file` exists.
 */
export async function backupEmbeddedStore(dataDir: string, file: string): Promise<BackupResult> {
  if (!isEmbeddedDataDir(dataDir)) {
    throw new InvalidArgumentError('dataDir', `No embedded store at ${dataDir}`, { hint: 'Name the data directory of the store with --data-dir.' });
  }
  if (existsSync(file)) {
    throw new InvalidArgumentError('file', `${file} exists already`, { hint: 'Choose a new file name; a backup never overwrites a file.' });
  }
  const release = lockDataDir(dataDir);
  const partial = `${file}.partial-${process.pid}`;
  try {
    const db = await PGlite.create(dataDir);
    let dump: Blob;
    try {
      dump = await db.dumpDataDir('gzip');
    } finally {
      await db.close();
    }
    const bytes = Buffer.from(await dump.arrayBuffer());
    writeFileSync(partial, bytes);
    renameSync(partial, file);
    return { dataDir, file, bytes: bytes.length };
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    release();
  }
}

/**
 * Restores a backup made by {@link backupEmbeddedStore} into `dataDir`, which must not exist yet
 * (or be empty): a restore never overwrites a store. A file that is not a backup fails the
 * restore and leaves no data directory behind.
 * @throws {InvalidArgumentError} when `file` cannot be read or is not a backup, or `dataDir` is not empty.
 */
export async function restoreEmbeddedStore(file: string, dataDir: string): Promise<{ file: string; dataDir: string }> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new InvalidArgumentError('file', `Cannot read the backup ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const existed = existsSync(dataDir);
  if (existed && (!statSync(dataDir).isDirectory() || readdirSync(dataDir).length > 0)) {
    throw new InvalidArgumentError('dataDir', `${dataDir} is not empty`, {
      hint: 'Restore into a new data directory; move the old one away first if it is to be replaced.',
    });
  }
  const release = lockDataDir(dataDir);
  try {
    let db: PGlite;
    try {
      db = await PGlite.create(dataDir, { loadDataDir: new Blob([bytes]), extensions: { pgcrypto } });
      await db.query('select 1');
    } catch (error) {
      throw new InvalidArgumentError('file', `${file} is not a backup of an embedded store (${error instanceof Error ? error.message : String(error)})`, {
        hint: 'Give a file written by pgevents backup.',
        cause: error,
      });
    }
    await db.close();
    return { file, dataDir };
  } catch (error) {
    if (existed) for (const entry of readdirSync(dataDir)) rmSync(`${dataDir}/${entry}`, { recursive: true, force: true });
    else rmSync(dataDir, { recursive: true, force: true });
    throw error;
  } finally {
    release();
  }
}
