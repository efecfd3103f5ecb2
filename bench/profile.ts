/**
 * `node --import tsx bench/profile.ts`: where pgevents' write path spends its time. Measures the
 * backend CPU time (from /proc, so the server must run on this machine) of one statement, averaged
 * over many in one rolled-back transaction, for the seed, the raw table and pgevents — and for
 * pgevents again with one part of its schema taken away at a time. Prints a Markdown table.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { benchDatabaseName, dropDatabase, recreateDatabase } from './lib/db.js';
import { setupPgevents } from './lib/pgevents-server.js';
import { benchSql, copyEvents } from './lib/sql.js';
import { bulkSource } from './lib/workload.js';

const STATEMENTS = {
  append100: `select count(*) from pgevents.append_events(gen_random_uuid(), (select jsonb_agg(jsonb_build_object('type', case when i = 1 then 'user_create' else 'user_update' end, 'body', jsonb_build_object('name', 'n' || i))) from generate_series(1, 100) i), 'any')`,
  insert100: `insert into pgevents.events (uuid, type, body) select u, case when i = 1 then 'user_create' else 'user_update' end, jsonb_build_object('name', 'n' || i) from (select gen_random_uuid() u) s, generate_series(1, 100) i`,
  append1: `select count(*) from pgevents.append_events(gen_random_uuid(), '[{"type": "user_create", "body": {"name": "x"}}]', 'any')`,
  insert1: `insert into pgevents.events (uuid, type, body) values (gen_random_uuid(), 'user_create', '{"name": "x"}')`,
  seed100: `insert into events (uuid, type, body) select u, case when i = 1 then 'user_create' else 'user_update' end, jsonb_build_object('name', 'n' || i) from (select gen_random_uuid() u) s, generate_series(1, 100) i`,
  seed1: `insert into events (uuid, type, body) values (gen_random_uuid(), 'user_create', '{"name": "x"}')`,
};
type StatementId = keyof typeof STATEMENTS;

function backendCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** Backend CPU ms per statement: `n` statements in one transaction, rolled back, after 20 warm-ups. */
async function cpuPerStatement(url: string, id: StatementId): Promise<number> {
  const n = id.endsWith('100') ? 300 : 3000;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    for (let i = 0; i < 20; i++) await client.query(STATEMENTS[id]);
    await client.query('begin');
    const before = backendCpuMs(pid);
    for (let i = 0; i < n; i++) await client.query(STATEMENTS[id]);
    const after = backendCpuMs(pid);
    await client.query('rollback');
    return (after - before) / n;
  } finally {
    await client.end();
  }
}

/** Backend CPU ms of one statement on a fresh connection (for long statements such as a replay). */
async function cpuOf(url: string, sql: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    const before = backendCpuMs(pid);
    await client.query(sql);
    return backendCpuMs(pid) - before;
  } finally {
    await client.end();
  }
}

async function copyInto(url: string, target: string, events: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await copyEvents(client, target, bulkSource(events, 10));
    await client.query('vacuum analyze');
  } finally {
    await client.end();
  }
}

async function exec(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const TAKE_AWAY: { label: string; sql: string }[] = [
  { label: 'the projection trigger', sql: 'alter table pgevents.events disable trigger project_users' },
  { label: 'events_after_insert (checks, stream versions, notify)', sql: 'alter table pgevents.events disable trigger events_after_insert' },
  { label: 'events_type_valid', sql: 'alter table pgevents.events drop constraint events_type_valid' },
  {
    label: 'the 4 other check constraints',
    sql: 'alter table pgevents.events drop constraint events_body_size, drop constraint events_metadata_size, drop constraint events_body_is_object, drop constraint events_metadata_is_object',
  },
  {
    label: 'the event_id and (transaction_id, id) indexes',
    sql: 'drop index pgevents.events_transaction_order_idx; alter table pgevents.events drop constraint events_event_id_unique',
  },
];

async function main(): Promise<void> {
  const db = benchDatabaseName('profile');
  const rows: string[] = ['| statement | backend CPU |', '| --- | ---: |'];
  const row = (label: string, ms: number) => {
    rows.push(`| ${label} | ${ms.toFixed(2)} ms |`);
    process.stderr.write(`${label}: ${ms.toFixed(2)} ms\n`);
  };
  try {
    let url = await recreateDatabase(db);
    await exec(url, benchSql('seed-events.sql') + benchSql('users.sql') + benchSql('seed-projection.sql'));
    row('seed triggers, 100 events', await cpuPerStatement(url, 'seed100'));
    row('seed triggers, 1 event', await cpuPerStatement(url, 'seed1'));
    await exec(url, 'alter table events disable trigger user');
    row('raw INSERT, 100 events', await cpuPerStatement(url, 'seed100'));
    row('raw INSERT, 1 event', await cpuPerStatement(url, 'seed1'));

    for (const handlers of ['per-event', 'batch'] as const) {
      url = await recreateDatabase(db);
      await setupPgevents(url, { handlers });
      for (const id of ['append100', 'insert100', 'append1', 'insert1'] as const) {
        row(`pgevents ${id.startsWith('append') ? 'append_events' : 'plain INSERT'}, ${id.endsWith('100') ? '100 events' : '1 event'}, ${handlers} handlers`, await cpuPerStatement(url, id));
      }
    }
    for (const step of TAKE_AWAY) {
      await exec(url, step.sql);
      row(`append_events, 100 events, also without ${step.label}`, await cpuPerStatement(url, 'append100'));
      row(`append_events, 1 event, also without ${step.label}`, await cpuPerStatement(url, 'append1'));
      row(`plain INSERT, 1 event, also without ${step.label}`, await cpuPerStatement(url, 'insert1'));
    }

    // Replay: the same events COPYed into both, vacuumed and analyzed, then one replay each.
    const events = Number(process.env.PROFILE_REPLAY_EVENTS ?? 200_000);
    url = await recreateDatabase(db);
    await exec(url, benchSql('seed-events.sql') + benchSql('users.sql') + benchSql('seed-projection.sql'));
    await copyInto(url, 'events', events);
    rows.push(`| seed replay loop, per event (${events.toLocaleString('en-US')} events) | ${((await cpuOf(url, benchSql('seed-replay.sql'))) * 1000 / events).toFixed(1)} µs |`);
    url = await recreateDatabase(db);
    await setupPgevents(url, { handlers: 'per-event' });
    await copyInto(url, 'pgevents.events', events);
    rows.push(`| pgevents replay_projection, per-event handlers, per event (${events.toLocaleString('en-US')} events) | ${((await cpuOf(url, "select pgevents.replay_projection('users')")) * 1000 / events).toFixed(1)} µs |`);
    url = await recreateDatabase(db);
    await setupPgevents(url, { handlers: 'batch' });
    await copyInto(url, 'pgevents.events', events);
    rows.push(`| pgevents replay_projection, batch handler, per event (${events.toLocaleString('en-US')} events) | ${((await cpuOf(url, "select pgevents.replay_projection('users')")) * 1000 / events).toFixed(1)} µs |`);
  } finally {
    await dropDatabase(db);
  }
  process.stdout.write(rows.join('\n') + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(String(error instanceof Error ? (error.stack ?? error.message) : error) + '\n');
  process.exitCode = 1;
});
