import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, openEventStore, type StoredEvent } from '../../src/index.js';
import { startConsole } from '../../src/ui/index.js';
import { runCli, waitFor } from '../contract/subscriptions.contract.js';
import { createLoginRoles, uniqueRoleName, urlAs } from '../support/roles.js';
import {
  createClusterDatabase,
  startThrowawayCluster,
  startThrowawayStandby,
  type ThrowawayCluster,
  throwawayClusterUnavailable,
  waitForStandby,
} from '../support/throwaway-cluster.js';

/**
 * Read replicas, for real: a primary and a hot standby fed by streaming replication (initdb +
 * pg_basebackup -R), each a throwaway cluster on a unix socket of its own. Writers append on the
 * primary; readAll, a follower and a subscription read on the standby (the subscription's
 * checkpoint on the primary); the standby restarts in the middle. Runs wherever PostgreSQL's
 * binaries are installed, and must run under CI.
 */
const unavailable = throwawayClusterUnavailable();
const DATABASE = 'pgevents_replica';

describe.skipIf(unavailable !== null && process.env.CI !== 'true')('read replicas: a hot standby serves gap-safe reads', { timeout: 120_000 }, () => {
  let primary: ThrowawayCluster | undefined;
  let standby: ThrowawayCluster | undefined;
  let primaryUrl: string;
  let standbyUrl: string;
  let owner: EventStore;
  let writer: EventStore;
  let reader: EventStore;
  const writerRole = uniqueRoleName('writer');
  const subscriberRole = uniqueRoleName('subscriber');

  beforeAll(async () => {
    primary = await startThrowawayCluster({ fsync: 'off' });
    primaryUrl = await createClusterDatabase(primary, DATABASE);
    await createLoginRoles([writerRole, subscriberRole], primary.url());
    owner = await openEventStore({ url: primaryUrl, migrate: true, poolSize: 2 });
    await owner.grant({ writers: [writerRole], subscribers: [subscriberRole] });
    // The subscription's effects: one row per delivery, written in the handler's transaction.
    await owner.query('create table public.delivered (seq bigserial primary key, position bigint not null, event_id uuid not null)');
    await owner.query(`grant select, insert on public.delivered to ${subscriberRole}`);
    await owner.query(`grant usage on sequence public.delivered_seq_seq to ${subscriberRole}`);
    // track_functions: the standby counts the calls of read_page, to show that pages are read there.
    standby = await startThrowawayStandby(primary, { fsync: 'off', track_functions: 'pl' });
    standbyUrl = standby.url(DATABASE);
    writer = await openEventStore({ url: urlAs(primaryUrl, writerRole), poolSize: 6 });
    reader = await openEventStore({ url: urlAs(primaryUrl, subscriberRole), replicaUrl: urlAs(standbyUrl, subscriberRole), poolSize: 3 });
    await waitForStandby(primary, standby, DATABASE);
  });

  afterAll(async () => {
    await reader?.close();
    await writer?.close();
    await owner?.close();
    await standby?.destroy();
    await primary?.destroy();
  });

  /** Every event readAll hands out, page by page. */
  async function readEverything(store: EventStore): Promise<StoredEvent[]> {
    const events: StoredEvent[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await store.readAll({ ...(after ? { after } : {}), limit: 500 });
      events.push(...page.events);
      if (page.events.length < 500) return events;
      after = page.cursor;
    }
  }

  async function readPageCallsOnStandby(): Promise<number> {
    const client = new pg.Client({ connectionString: standbyUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ calls: string | null }>(
        `select sum(calls)::text as calls from pg_stat_user_functions where schemaname = 'pgevents' and funcname = 'read_page'`,
      );
      return Number(rows[0]?.calls ?? 0);
    } finally {
      await client.end();
    }
  }

  async function isStandby(store: EventStore): Promise<boolean> {
    const [row] = await store.query<{ recovery: boolean }>('select pg_is_in_recovery() as recovery');
    return row?.recovery === true;
  }

  it('reads on the standby: the reader store is replicated, its readAll runs where pg_is_in_recovery()', async () => {
    expect(reader.replicated).toBe(true);
    expect(writer.replicated).toBe(false);
    expect(await isStandby(reader)).toBe(false); // query() goes to the primary
    const standbyStore = await openEventStore({ url: urlAs(standbyUrl, subscriberRole), poolSize: 1 });
    try {
      expect(await isStandby(standbyStore)).toBe(true);
      // A store opened on the standby alone reads too: every read function is read-only.
      const stream = randomUUID();
      const { events } = await writer.append(stream, [{ type: 'replica_probe', body: { n: 1 } }]);
      await waitForStandby(primary!, standby!, DATABASE);
      const read = await standbyStore.readAll({ types: ['replica_probe'] });
      expect(read.events.map((event) => event.eventId)).toEqual([events[0]!.eventId]);
      // The SQL reads too: read_all_after (through resolve_cursor) and the safe_events view.
      const viaSql = await standbyStore.query<{ event_id: string }>(
        `select event_id::text from pgevents.read_all_after('start', 10, array['replica_probe'])`,
      );
      expect(viaSql.map((row) => row.event_id)).toEqual([events[0]!.eventId]);
      const safe = await standbyStore.query<{ n: string }>(`select count(*)::text as n from pgevents.safe_events where type = 'replica_probe'`);
      expect(safe[0]?.n).toBe('1');
      expect((await reader.readEvent(events[0]!.position))?.eventId).toBe(events[0]!.eventId);
      expect((await reader.listStreams({ type: 'replica_probe' })).streams.map((s) => s.stream)).toEqual([stream]);
      expect((await reader.readAllBackward({ limit: 1 })).events[0]?.eventId).toBe(events[0]!.eventId);
    } finally {
      await standbyStore.close();
    }
  });

  it('holds back, on the standby, events committed after an open writing transaction, and delivers that transaction’s event when it commits', async () => {
    const delivered: StoredEvent[] = [];
    const follower = await reader.follow({ from: 'end', types: ['held', 'after_held'], handler: (events) => void delivered.push(...events) });
    try {
      // A writing transaction takes its id (and its position) first and stays open.
      const held = new pg.Client({ connectionString: urlAs(primaryUrl, writerRole) });
      await held.connect();
      try {
        await held.query('begin');
        await held.query(`select * from pgevents.append_events($1::uuid, $2::jsonb, null)`, [
          randomUUID(),
          JSON.stringify([{ type: 'held', body: {} }]),
        ]);
        const later = await writer.append(randomUUID(), [{ type: 'after_held', body: {} }]);
        await waitForStandby(primary!, standby!, DATABASE);
        // The standby has replayed the later commit, yet hands it out only after the open one ends.
        const onStandby = await reader.readAll({ types: ['held', 'after_held'] });
        expect(onStandby.events).toEqual([]);
        expect(later.events[0]!.position).toBeGreaterThan(0);
        await held.query('commit');
      } finally {
        await held.end();
      }
      await follower.caughtUp();
      expect(delivered.map((event) => event.type)).toEqual(['held', 'after_held']);
      expect(delivered[0]!.position).toBeLessThan(delivered[1]!.position);
    } finally {
      await follower.stop();
    }
  });

  it('a subscription reading the standby and checkpointing on the primary delivers every event once, in order, across a standby restart', async () => {
    const subscription = await reader.subscribe({
      name: 'replica-follower',
      from: 'start',
      transactional: true,
      batchSize: 50,
      onError: () => undefined, // the standby's restart ends the reader's sessions there: it reconnects
      handler: async (events, tx) => {
        for (const event of events) {
          await tx.query('insert into public.delivered (position, event_id) values ($1, $2)', [event.position, event.eventId]);
        }
      },
    });
    try {
      const writers = 4;
      const perWriter = 60;
      let appended = 0;
      const appendAll = async () => {
        for (let i = 0; i < perWriter; i += 1) {
          await writer.append(randomUUID(), [{ type: 'replicated', body: { i } }, { type: 'replicated', body: { i, second: true } }]);
          appended += 1;
        }
      };
      // A transaction held open across the restart: its event has a lower position than those
      // appended meanwhile and is committed after them.
      const held = new pg.Client({ connectionString: urlAs(primaryUrl, writerRole) });
      await held.connect();
      await held.query('begin');
      await held.query(`select * from pgevents.append_events($1::uuid, $2::jsonb, null)`, [
        randomUUID(),
        JSON.stringify([{ type: 'replicated', body: { held: true } }]),
      ]);
      const appending = Promise.all(Array.from({ length: writers }, appendAll));
      await waitFor(() => appended >= (writers * perWriter) / 3, 'a third of the appends');
      await standby!.restart();
      await held.query('commit');
      await held.end();
      await appending;
      await subscription.caughtUp();

      const onPrimary = await readEverything(owner);
      const rows = await owner.query<{ event_id: string }>('select event_id from public.delivered order by seq');
      expect(rows.map((row) => row.event_id)).toEqual(onPrimary.map((event) => event.eventId));
      expect(new Set(rows.map((row) => row.event_id)).size).toBe(rows.length);
      expect(onPrimary.filter((event) => event.type === 'replicated')).toHaveLength(writers * perWriter * 2 + 1);
      expect(subscription.failure).toBeNull();
      // The pages were read on the standby (its own statistics count read_page's calls).
      await waitFor(async () => (await readPageCallsOnStandby()) > 0, 'read_page calls counted on the standby');

      // Once caught up, the standby hands out exactly what the primary does.
      await waitForStandby(primary!, standby!, DATABASE);
      expect((await readEverything(reader)).map((event) => event.eventId)).toEqual(onPrimary.map((event) => event.eventId));
    } finally {
      await subscription.stop();
    }
  });

  it('pgevents tail --replica-url follows the standby', async () => {
    await waitForStandby(primary!, standby!, DATABASE);
    const expected = (await owner.readAll({ limit: 3 })).events.map((event) => event.eventId);
    const tail = await runCli([
      'tail',
      '--database-url',
      urlAs(primaryUrl, subscriberRole),
      '--replica-url',
      urlAs(standbyUrl, subscriberRole),
      '--from',
      'start',
      '--limit',
      '3',
      '--json',
    ]);
    expect(tail.stderr).toBe('');
    expect(tail.exitCode).toBe(0);
    const printed = tail.stdout.trim().split('\n').map((line) => JSON.parse(line) as { eventId: string });
    expect(printed.map((event) => event.eventId)).toEqual(expected);
  });

  it('the console reads its event pages on the standby', async () => {
    const stream = randomUUID();
    const { events } = await writer.append(stream, [{ type: 'console_probe', body: { a: 1 } }, { type: 'console_probe', body: { a: 2 } }]);
    await waitForStandby(primary!, standby!, DATABASE);
    const ui = await startConsole(reader, { port: 0, log: () => undefined });
    try {
      const response = await fetch(`${ui.url}api/events/${events[1]!.position}`);
      expect(response.status).toBe(200);
      const page = (await response.json()) as { event: { eventId: string }; previous: number | null; streamVersion: number };
      expect(page.event.eventId).toBe(events[1]!.eventId);
      expect(page.previous).toBe(events[0]!.position);
      expect(page.streamVersion).toBe(2);
      const streams = (await (await fetch(`${ui.url}api/streams?type=console_probe`)).json()) as { streams: { stream: string }[] };
      expect(streams.streams.map((found) => found.stream)).toEqual([stream]);
    } finally {
      await ui.close();
    }
  });
});
