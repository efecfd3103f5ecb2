/**
 * CPU time spent per event, which contention from other processes on the machine disturbs far less
 * than throughput: the server backends' CPU (from /proc, so only when the server runs on this
 * machine and its processes are readable) and this Node process's CPU.
 */
import { readFileSync } from 'node:fs';
import { withClient, serverUrl } from './db.js';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : null;
  } catch {
    return null;
  }
}

/** CPU milliseconds used so far by each server backend connected to `database` (readable ones only). */
export async function serverCpuSnapshot(database: string): Promise<Map<number, number>> {
  const pids = await withClient(serverUrl(), async (c) => {
    const r = await c.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [database],
    );
    return r.rows.map((row) => row.pid);
  });
  const snapshot = new Map<number, number>();
  for (const pid of pids) {
    const ms = processCpuMs(pid);
    if (ms !== null) snapshot.set(pid, ms);
  }
  return snapshot;
}

/**
 * CPU milliseconds the backends used between two snapshots: a backend in both counts its
 * difference, one that started in between counts all of its time; one that ended in between is
 * lost (pools keep their connections for the whole run, so this is rare). Null when no backend was
 * readable (a server on another machine, or processes of another user).
 */
export function serverCpuBetween(before: Map<number, number>, after: Map<number, number>): number | null {
  if (after.size === 0) return null;
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** CPU milliseconds used so far by this process (user + system). */
export function clientCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The 1-minute load average (0 where the OS has none). */
export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}
