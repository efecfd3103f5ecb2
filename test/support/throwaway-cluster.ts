import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of its own, in a temporary directory, for tests that kill the server. It
 * listens only on a unix socket in that directory, so nothing else can reach it and the shared
 * server at 127.0.0.1:5432 is never touched.
 */
export interface ThrowawayCluster {
  /** The temporary directory: the data directory, the socket and the server log live in it. */
  readonly dir: string;
  readonly port: number;
  /** Connection string of a database of this cluster (default `postgres`), as the superuser `postgres`. */
  url(database?: string): string;
  /** Starts the server (again): after {@link killHard}, this runs crash recovery. */
  start(): Promise<void>;
  /** `pg_ctl restart -m fast`: every session is ended, the server shuts down cleanly and starts again. */
  restart(): Promise<void>;
  /** `kill -9` of the postmaster and every backend at once: a crash, as far as PostgreSQL can tell. */
  killHard(): Promise<void>;
  /** Stops the server (`pg_ctl stop -m immediate`) and removes the directory. Safe to call twice. */
  destroy(): Promise<void>;
}

/** The directory of the newest PostgreSQL installation's binaries, or undefined. */
function findBinaries(): string | undefined {
  const fromEnv = process.env.PGEVENTS_TEST_PG_BIN;
  if (fromEnv) return existsSync(join(fromEnv, 'initdb')) ? fromEnv : undefined;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** Why a throwaway cluster cannot be started here, or null. */
export function throwawayClusterUnavailable(): string | null {
  if (!findBinaries()) return 'no PostgreSQL binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or PGEVENTS_TEST_PG_BIN';
  if (process.getuid?.() === 0 && postgresUser() === undefined) return 'running as root and there is no postgres OS user';
  return null;
}

function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pids whose parent is `parent` (from /proc). */
function childProcesses(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: pid (comm) state ppid …; comm may contain spaces and parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) children.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

/**
 * Creates and starts a throwaway cluster (initdb in a temporary directory, pg_ctl start), as the
 * `postgres` OS user when the test runs as root. Server settings are the defaults
 * (synchronous_commit = on, fsync = on, wal_level = replica), plus `extra` settings.
 */
export async function startThrowawayCluster(extra: Record<string, string> = {}): Promise<ThrowawayCluster> {
  return startCluster(extra, (initdb) => initdb('initdb', ['-D', '{data}', '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']));
}

/**
 * Creates and starts a hot standby of `primary` (which must allow replication connections, as
 * initdb's defaults do: wal_level = replica, max_wal_senders = 10, trust for local replication):
 * `pg_basebackup -R` over the primary's unix socket into a temporary directory of its own, then
 * `pg_ctl start`. The standby streams from the primary and serves read-only sessions (hot_standby).
 */
export async function startThrowawayStandby(primary: ThrowawayCluster, extra: Record<string, string> = {}): Promise<ThrowawayCluster> {
  return startCluster(extra, (asOwner) =>
    asOwner('pg_basebackup', ['-D', '{data}', '-R', '-X', 'stream', '-c', 'fast', '--no-sync', '-h', primary.dir, '-p', String(primary.port), '-U', 'postgres']),
  );
}

/** Waits until `standby` has replayed everything `primary` had written when called (never a sleep-and-hope). */
export async function waitForStandby(primary: ThrowawayCluster, standby: ThrowawayCluster, database = 'postgres', timeoutMs = 30_000): Promise<void> {
  const client = new pg.Client({ connectionString: primary.url(database) });
  await client.connect();
  let lsn: string;
  try {
    lsn = String((await client.query('select pg_current_wal_flush_lsn()::text as lsn')).rows[0].lsn);
  } finally {
    await client.end();
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reader = new pg.Client({ connectionString: standby.url(database) });
    try {
      await reader.connect();
      const { rows } = await reader.query('select pg_last_wal_replay_lsn() >= $1::pg_lsn as reached', [lsn]);
      if (rows[0]?.reached === true) return;
    } catch {
      // the standby is starting up
    } finally {
      await reader.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`the standby did not replay up to ${lsn} within ${timeoutMs} ms`);
    await delay(10);
  }
}

type AsOwner = (command: string, args: string[]) => Promise<unknown>;

/**
 * Makes a data directory with `init` (its '{data}' arguments name the data directory) in a new
 * temporary directory and starts a server on it. PostgreSQL refuses to run as root, so a root test
 * process runs the binaries as the `postgres` OS user. Server settings are the defaults
 * (synchronous_commit = on, fsync = on), plus `extra` settings.
 */
async function startCluster(extra: Record<string, string>, init: (asOwner: AsOwner) => Promise<unknown>): Promise<ThrowawayCluster> {
  const bin = findBinaries();
  if (!bin) throw new Error(throwawayClusterUnavailable() ?? 'no PostgreSQL binaries');
  const dir = mkdtempSync(join(tmpdir(), 'pgevents-cluster-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const owner = process.getuid?.() === 0 ? postgresUser() : undefined;
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const asOwner = (command: string, args: string[]) => {
    const resolved = args.map((arg) => (arg === '{data}' ? dataDir : arg));
    return owner ? run('runuser', ['-u', 'postgres', '--', join(bin, command), ...resolved]) : run(join(bin, command), resolved);
  };

  const port = await freePort();
  const settings = { listen_addresses: "''", unix_socket_directories: `'${dir}'`, port: String(port), ...extra };
  const options = Object.entries(settings)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
  let destroyed = false;

  const cluster: ThrowawayCluster = {
    dir,
    port,
    url(database = 'postgres') {
      return `postgresql://postgres@localhost:${port}/${database}?host=${encodeURIComponent(dir)}`;
    },
    async start() {
      await asOwner('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', options, '-w', '-t', '180', 'start']);
    },
    async restart() {
      await asOwner('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', options, '-m', 'fast', '-w', '-t', '180', 'restart']);
    },
    async killHard() {
      const pid = Number.parseInt(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
      // Every server process is a session leader of its own, so there is no process group to kill.
      // Freeze the postmaster first (no crash handling, no new processes), then kill its children,
      // then the postmaster: nobody gets the chance to flush or to say goodbye to a client.
      process.kill(pid, 'SIGSTOP');
      const children = childProcesses(pid);
      for (const child of children) process.kill(child, 'SIGKILL');
      process.kill(pid, 'SIGKILL');
      const deadline = Date.now() + 30_000;
      while ([pid, ...children].some(processIsAlive)) {
        if (Date.now() > deadline) throw new Error(`server processes still alive 30 s after SIGKILL`);
        await delay(20);
      }
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      if (existsSync(join(dataDir, 'postmaster.pid'))) {
        await asOwner('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await init(asOwner);
    await cluster.start();
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}

/** Creates a database in the cluster and returns its connection string. */
export async function createClusterDatabase(cluster: ThrowawayCluster, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: cluster.url() });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  return cluster.url(name);
}
