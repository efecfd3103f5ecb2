import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { EventStore, Subscription } from '../../src/index.js';
import { appendEach, engineLabel, recorder, settled, waitFor } from '../contract/subscriptions.contract.js';
import { asApplicationRoles, server, serverTestStore, type TestEngine, type TestStore } from '../support/engines.js';
import { cleanUp, urlAs } from '../support/roles.js';
import { runnerReadTwiceSince, serverNow } from '../support/subscription-runner.js';
import { createClusterDatabase, startThrowawayCluster, throwawayClusterUnavailable } from '../support/throwaway-cluster.js';

/** How long a wait for a state may take on a loaded machine before the test fails: a safety net. */
const WAIT_MS = 60_000;

/**
 * A store in a throwaway cluster of its own that allows prepared transactions (nothing else runs
 * there); on the shared server when no cluster can be started, where the prepared-transaction test
 * is skipped (the shared server is never reconfigured).
 */
const ownCluster: TestEngine = {
  name: 'server',
  get unavailable() {
    return throwawayClusterUnavailable() === null ? null : server.unavailable;
  },
  async createStore() {
    if (throwawayClusterUnavailable() !== null) return server.createStore();
    const cluster = await startThrowawayCluster({ fsync: 'off', max_prepared_transactions: '4' });
    try {
      const url = await createClusterDatabase(cluster, 'pgevents_test');
      return await serverTestStore(url, () => cluster.destroy(), { migrate: true });
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  },
};

/** The same server as `url`, another database, as the superuser `postgres`. */
function superuserUrl(url: string, database: string): string {
  const parsed = new URL(urlAs(url, 'postgres'));
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

function horizonAcrossDatabases(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`the read horizon and open transactions of other databases (${engineLabel(engine)})`, { timeout: 180_000 }, () => {
    let t: TestStore;
    let store: EventStore;
    let otherDatabase: string;
    const clients: pg.Client[] = [];
    const running: Subscription[] = [];

    async function connect(url: string): Promise<pg.Client> {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => undefined);
      await client.connect();
      clients.push(client);
      return client;
    }

    /**
     * A session of one test: it ends with the test, rolling back what the test left open (a test that
     * fails half-way must not hold the next ones back).
     */
    async function connectForTest(url: string): Promise<pg.Client> {
      const client = await connect(url);
      onTestFinished(() => client.end().catch(() => undefined));
      return client;
    }

    /** A transaction in the other database that has written a row (so has an id), left open. */
    async function openForeignTransaction(): Promise<{ client: pg.Client; xid: bigint }> {
      const client = await connectForTest(superuserUrl(t.url!, otherDatabase));
      await client.query('begin');
      await client.query('insert into scratch (note) values ($1)', ['open']);
      const { rows } = await client.query<{ xid: string }>('select pg_current_xact_id()::text as xid');
      return { client, xid: BigInt(rows[0]!.xid) };
    }

    /** A transaction in the store's database, as the store's role, that has appended an event, left open. */
    async function openLocalTransaction(type: string): Promise<{ client: pg.Client; xid: bigint; eventId: string }> {
      const client = await connectForTest(t.url!);
      await client.query('begin');
      const { rows } = await client.query<{ event_id: string; xid: string }>(
        `select event_id, pg_current_xact_id()::text as xid from ${store.schema}.append_events($1::uuid, $2::jsonb)`,
        [randomUUID(), JSON.stringify([{ type, body: {} }])],
      );
      return { client, xid: BigInt(rows[0]!.xid), eventId: rows[0]!.event_id };
    }

    /** The cursor after every event that is safe to read now. */
    async function endCursor(): Promise<string> {
      await settled(store);
      return (await store.readAllBackward({ limit: 1 })).cursor;
    }

    /** What each way of reading hands out after `after` right now, as event ids. */
    async function readEverywhere(after: string): Promise<{ readAll: string[]; readAllAfter: string[]; safeEvents: string[] }> {
      const readAll = (await store.readAll({ after })).events.map((event) => event.eventId);
      const readAllAfter = (
        await store.query<{ event_id: string }>(`select event_id from ${store.schema}.read_all_after($1)`, [after])
      ).map((row) => row.event_id);
      const [transactionId, position] = after.split('-');
      const safeEvents = (
        await store.query<{ event_id: string }>(
          `select event_id from ${store.schema}.safe_events where (transaction_id, id) > ($1::xid8, $2::bigint)
            order by transaction_id, id`,
          [transactionId, position],
        )
      ).map((row) => row.event_id);
      return { readAll, readAllAfter, safeEvents };
    }

    /** Whether the events were written after pg_snapshot_xmin, the horizon that holds every database back. */
    async function belowClusterXmin(ids: string[]): Promise<boolean> {
      const [row] = await store.query<{ below: boolean }>(
        `select bool_or(transaction_id < pg_snapshot_xmin(pg_current_snapshot())) as below
           from ${store.schema}.events where event_id = any($1::uuid[])`,
        [ids],
      );
      return row!.below;
    }

    async function heldBackOf(name: string): Promise<number> {
      return (await store.listSubscriptions()).find((candidate) => candidate.name === name)!.heldBackEvents;
    }

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      otherDatabase = `pgevents_other_${randomBytes(5).toString('hex')}`;
      const admin = await connect(superuserUrl(t.url!, 'postgres'));
      await admin.query(`create database ${otherDatabase}`);
      const other = await connect(superuserUrl(t.url!, otherDatabase));
      await other.query('create table scratch (id bigint generated always as identity primary key, note text)');
    });
    afterAll(async () => {
      const admin = () => connect(superuserUrl(t.url!, 'postgres'));
      await cleanUp(
        () => Promise.all(running.map((subscription) => subscription.stop())),
        // A test that failed half-way may leave a transaction prepared, which no session ending
        // rolls back, and which keeps its database from being dropped.
        async () => {
          const { rows } = await (await admin()).query<{ gid: string; database: string }>(
            `select gid, database from pg_prepared_xacts where gid like 'horizon_%'`,
          );
          for (const { gid, database } of rows) {
            await (await connect(superuserUrl(t.url!, database))).query(`rollback prepared ${pg.escapeLiteral(gid)}`);
          }
        },
        () => Promise.all(clients.map((client) => client.end().catch(() => undefined))),
        async () => {
          const client = new pg.Client({ connectionString: superuserUrl(t.url!, 'postgres') });
          await client.connect();
          try {
            await client.query(`drop database if exists ${otherDatabase} with (force)`);
          } finally {
            await client.end();
          }
        },
        () => t?.dispose(),
      );
    });

    it('hands out events committed after an open transaction of another database took its id, while it stays open', async () => {
      const seen = recorder();
      const after = await endCursor();
      const subscription = await store.subscribe({ name: 'past-foreign', from: 'end', handler: seen.handler });
      running.push(subscription);
      await subscription.caughtUp();

      const foreign = await openForeignTransaction();
      const ids = await appendEach(store, ['after_foreign_1', 'after_foreign_2', 'after_foreign_3']);
      // The cluster-wide snapshot xmin is held back by the foreign transaction: the old horizon
      // would have delivered none of them until it ended.
      expect(await belowClusterXmin(ids)).toBe(false);

      await waitFor(() => ids.every((id) => seen.counts.has(id)), 'the subscription to deliver the events', WAIT_MS);
      expect(await readEverywhere(after)).toEqual({ readAll: ids, readAllAfter: ids, safeEvents: ids });
      expect((await store.readAllBackward({ limit: 3 })).events.map((event) => event.eventId)).toEqual([...ids].reverse());
      expect(await store.heldBackEvents()).toBe(0);
      // The cursor of the newest event is a place safe to read from (resolve_cursor).
      const { cursor } = await store.readAll({ after });
      const resolved = await store.query(
        `select transaction_id::text || '-' || "position" as cursor from ${store.schema}.resolve_cursor($1)`,
        [cursor],
      );
      expect(resolved).toEqual([{ cursor }]);
      await subscription.caughtUp();
      expect((await store.listSubscriptions()).find((candidate) => candidate.name === 'past-foreign')).toMatchObject({
        lagEvents: 0,
        heldBackEvents: 0,
      });

      // Still open: the events went past a transaction that is running, not one that had ended.
      const [status] = await store.query<{ status: string }>('select pg_xact_status($1::xid8) as status', [foreign.xid.toString()]);
      expect(status!.status).toBe('in progress');
      await foreign.client.query('commit');
      await subscription.stop();
    });

    it('holds back events committed after an open transaction of this database took its id until it ends, while a foreign one older than both stays open', async () => {
      const seen = recorder();
      const after = await endCursor();
      const subscription = await store.subscribe({ name: 'behind-local', from: 'end', handler: seen.handler });
      running.push(subscription);
      await subscription.caughtUp();

      const foreign = await openForeignTransaction();
      const local = await openLocalTransaction('held_local');
      expect(local.xid).toBeGreaterThan(foreign.xid);
      const ids = await appendEach(store, ['after_local_1', 'after_local_2', 'after_local_3']);

      await runnerReadTwiceSince(store, 'behind-local', await serverNow(store), WAIT_MS);
      expect(ids.filter((id) => seen.counts.has(id))).toEqual([]);
      expect(await readEverywhere(after)).toEqual({ readAll: [], readAllAfter: [], safeEvents: [] });
      expect(await store.heldBackEvents()).toBe(3);
      expect(await heldBackOf('behind-local')).toBe(3);
      // Past the foreign transaction, not past the local one.
      const [horizon] = await store.query<{ horizon: string }>(`select ${store.schema}.safe_horizon()::text as horizon`);
      expect(BigInt(horizon!.horizon)).toBeGreaterThan(foreign.xid);
      expect(BigInt(horizon!.horizon)).toBeLessThanOrEqual(local.xid);

      await local.client.query('commit');
      const expected = [local.eventId, ...ids];
      await waitFor(() => expected.every((id) => seen.counts.has(id)), 'the held-back events', WAIT_MS);
      expect(seen.events.map((event) => event.eventId)).toEqual(expected);
      expect(await readEverywhere(after)).toEqual({ readAll: expected, readAllAfter: expected, safeEvents: expected });
      expect(await store.heldBackEvents()).toBe(0);
      await foreign.client.query('rollback');
      await subscription.stop();
    });

    it("holds back, in a transaction that has an id, its own uncommitted events and those committed after it took its id", async () => {
      const after = await endCursor();
      const own = await openLocalTransaction('own_uncommitted');
      const later = await appendEach(store, ['after_own']);
      const [transactionId, position] = after.split('-');
      const { rows } = await own.client.query<{ event_id: string }>(
        `select event_id from ${store.schema}.read_all($1::xid8, $2::bigint)
          union all
         select event_id from ${store.schema}.safe_events where (transaction_id, id) > ($1::xid8, $2::bigint)`,
        [transactionId, position],
      );
      expect(rows).toEqual([]);
      const [horizon] = (await own.client.query<{ horizon: string }>(`select ${store.schema}.safe_horizon()::text as horizon`)).rows;
      expect(BigInt(horizon!.horizon)).toBeLessThanOrEqual(own.xid);

      await own.client.query('commit');
      const expected = [own.eventId, ...later];
      expect(await readEverywhere(after)).toEqual({ readAll: expected, readAllAfter: expected, safeEvents: expected });
    });

    it('treats a transaction prepared in another database as foreign, and one prepared in this database as holding back', async (context) => {
      const [setting] = await store.query<{ max: string }>(`select current_setting('max_prepared_transactions') as max`);
      if (Number(setting!.max) === 0) context.skip('max_prepared_transactions is 0 on this server');
      const after = await endCursor();

      const foreign = await openForeignTransaction();
      await foreign.client.query(`prepare transaction 'horizon_foreign'`);
      const past = await appendEach(store, ['after_prepared_foreign']);
      expect(await belowClusterXmin(past)).toBe(false);
      expect(await readEverywhere(after)).toEqual({ readAll: past, readAllAfter: past, safeEvents: past });

      const local = await openLocalTransaction('prepared_local');
      await local.client.query(`prepare transaction 'horizon_local'`);
      const held = await appendEach(store, ['after_prepared_local']);
      expect(await readEverywhere(after)).toEqual({ readAll: past, readAllAfter: past, safeEvents: past });
      expect(await store.heldBackEvents()).toBe(1);

      await local.client.query(`commit prepared 'horizon_local'`);
      const expected = [...past, local.eventId, ...held];
      expect(await readEverywhere(after)).toEqual({ readAll: expected, readAllAfter: expected, safeEvents: expected });
      await foreign.client.query(`rollback prepared 'horizon_foreign'`);
    });
  });
}

horizonAcrossDatabases(ownCluster);
// Again as an application role granted writer and subscriber access, which reads the horizon
// without any privilege on the other database or on other roles' sessions.
horizonAcrossDatabases(asApplicationRoles(ownCluster));
