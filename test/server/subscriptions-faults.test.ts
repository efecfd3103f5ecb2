import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, type StoredEvent, type Subscription, SubscriptionInUseError } from '../../src/index.js';
import { appendEach, checkpointOf, engineLabel, isolatedServer, recorder, rejectionOf, waitFor } from '../contract/subscriptions.contract.js';
import { asApplicationRoles, type TestEngine, type TestStore } from '../support/engines.js';

const repository = resolve(import.meta.dirname, '../..');
/** How long a wait for a state may take on a loaded machine before the test fails: a safety net. */
const WAIT_MS = 60_000;

// A subscriber in a process of its own: it records its effect for the first batch (outside any
// transaction, or in the handler's transaction), says so, and hangs before the checkpoint is saved.
const childSource = `
import { openEventStore } from ${JSON.stringify(pathToFileURL(join(repository, 'src/index.ts')).href)};
const [url, mode] = process.argv.slice(2);
const store = await openEventStore({ url });
const record = (db, events) =>
  db.query('insert into public.crash_effects (event_id, runner) select unnest($1::uuid[]), $2', [events.map((e) => e.eventId), 'child']);
const hang = () => new Promise(() => undefined);
await store.subscribe({
  name: 'crash-' + mode,
  types: ['crash_' + mode],
  transactional: mode === 'exactly-once',
  handler: async (events, tx) => {
    await record(mode === 'exactly-once' ? tx : store, events);
    process.stdout.write('handled\\n');
    await hang();
  },
});
`;

function subscriptionsAndFaults(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`subscriptions and faults (${engineLabel(engine)})`, { timeout: 180_000 }, () => {
    let t: TestStore;
    let store: EventStore;
    let childFile: string;
    const running: Subscription[] = [];
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      await store.execScript('create table public.crash_effects (event_id uuid not null, runner text not null)');
      childFile = join(tmpdir(), `pgevents-subscriber-${randomBytes(4).toString('hex')}.mts`);
      writeFileSync(childFile, childSource);
    });
    afterAll(async () => {
      for (const child of children) child.kill('SIGKILL');
      await Promise.all(running.map((subscription) => subscription.stop()));
      await t?.dispose();
      rmSync(childFile, { force: true });
    });

    /** Starts the child subscriber and resolves once its handler has run (and hangs). */
    async function startChild(mode: string): Promise<ChildProcess> {
      const child = spawn(process.execPath, ['--import', 'tsx', childFile, t.url!, mode], {
        cwd: repository,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await waitFor(() => {
        if (child.exitCode !== null) throw new Error(`the child subscriber exited: ${stderr}`);
        return stdout.includes('handled');
      }, 'the child subscriber to handle its batch', 120_000);
      return child;
    }

    async function kill(child: ChildProcess): Promise<void> {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }

    async function effectCounts(ids: string[]): Promise<number[]> {
      const rows = await store.query<{ event_id: string; n: unknown }>(
        'select event_id::text, count(*) as n from public.crash_effects where event_id = any($1::uuid[]) group by event_id',
        [ids],
      );
      const byId = new Map(rows.map((row) => [row.event_id, Number(row.n)]));
      return ids.map((id) => byId.get(id) ?? 0);
    }

    for (const mode of ['at-least-once', 'exactly-once'] as const) {
      it(`resumes from its checkpoint after being killed between handling and checkpointing (${mode})`, async () => {
        const ids = await appendEach(store, [`crash_${mode}`, `crash_${mode}`, `crash_${mode}`]);
        const child = await startChild(mode);
        await kill(child);
        // The checkpoint may have moved past other events, but not to any of these.
        const [firstEvent] = await store.query<{ transaction_id: string; id: unknown }>(
          `select transaction_id::text, id from ${store.schema}.events where event_id = any($1::uuid[]) order by transaction_id, id limit 1`,
          [ids],
        );
        const [checkpointTransaction, checkpointPosition] = (await checkpointOf(store, `crash-${mode}`)).split('-').map(BigInt);
        expect(
          checkpointTransaction! < BigInt(firstEvent!.transaction_id) ||
            (checkpointTransaction === BigInt(firstEvent!.transaction_id) && checkpointPosition! < BigInt(String(firstEvent!.id))),
        ).toBe(true);
        expect(await effectCounts(ids)).toEqual(mode === 'at-least-once' ? [1, 1, 1] : [0, 0, 0]);

        const record = async (events: StoredEvent[], db: { query(sql: string, params?: unknown[]): Promise<unknown> }) => {
          await db.query('insert into public.crash_effects (event_id, runner) select unnest($1::uuid[]), $2', [
            events.map((event) => event.eventId),
            'restarted',
          ]);
        };
        // Its lock dies with the killed process's connection: the restarted runner takes over.
        const subscription =
          mode === 'exactly-once'
            ? await store.subscribe({
                name: `crash-${mode}`,
                types: [`crash_${mode}`],
                takeoverIntervalMs: 50,
                transactional: true,
                handler: (events, tx) => record(events, tx),
              })
            : await store.subscribe({
                name: `crash-${mode}`,
                types: [`crash_${mode}`],
                takeoverIntervalMs: 50,
                handler: (events) => record(events, store),
              });
        running.push(subscription);
        await waitFor(() => subscription.state !== 'waiting', 'the restarted runner to take over', WAIT_MS);
        await subscription.caughtUp();
        // At-least-once: the batch came again (the effect is doubled); exactly-once: the killed
        // attempt's writes were rolled back with its checkpoint, so each effect exists once.
        expect(await effectCounts(ids)).toEqual(mode === 'at-least-once' ? [2, 2, 2] : [1, 1, 1]);
      });
    }

    it('delivers everything appended while its LISTEN connection was down, after reconnecting', async () => {
      const seen = recorder();
      // It polls once an hour: within the test, only the reconnect and notifications deliver.
      const subscription = await store.subscribe({
        name: 'listen-drop',
        from: 'end',
        pollIntervalMs: 3_600_000,
        handler: seen.handler,
      });
      running.push(subscription);
      await subscription.caughtUp();
      const holder = async () => {
        const [row] = await store.query<{ pid: number }>(
          `select l.pid from pg_locks l
            where l.locktype = 'advisory' and l.granted and l.classid = 1885824376
              and l.objid = ${store.schema}.subscription_lock_key('listen-drop')::oid`,
        );
        return row?.pid;
      };
      const before = await holder();
      expect(before).toBeDefined();

      await store.query('select pg_terminate_backend($1)', [before]);
      const ids: string[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const { events } = await store.append(
          crypto.randomUUID(),
          Array.from({ length: 10 }, (_, index) => ({ type: 'while_dropped', body: { index } })),
        );
        ids.push(...events.map((event) => event.eventId));
      }
      await waitFor(() => ids.every((id) => seen.counts.has(id)), 'the 100 events appended while the connection was down', WAIT_MS);
      expect(ids.map((id) => seen.counts.get(id))).toEqual(ids.map(() => 1));
      const after = await holder();
      expect(after).toBeDefined();
      expect(after).not.toBe(before);

      // Listening again: one more append arrives long before the hourly poll.
      const [again] = await appendEach(store, ['after_reconnect']);
      await waitFor(() => seen.counts.has(again!), 'an append after the reconnect', WAIT_MS);
    });

    it('delivers through one of two stores (two processes) running the same subscription name', async () => {
      const other = await t.openAnother();
      const first = recorder();
      const second = recorder();
      const one = await store.subscribe({ name: 'two-stores', from: 'end', takeoverIntervalMs: 50, handler: first.handler });
      running.push(one);
      const two = await other.subscribe({ name: 'two-stores', takeoverIntervalMs: 50, handler: second.handler });
      running.push(two);
      expect(two.state).toBe('waiting');
      const refused = await rejectionOf(other.subscribe({ name: 'two-stores', ifRunning: 'fail', handler: () => undefined }));
      expect(refused).toBeInstanceOf(SubscriptionInUseError);
      expect(refused).toMatchObject({ subscription: 'two-stores', runner: `${hostname()}:${process.pid}` });

      const ids = [
        ...(await appendEach(store, Array.from({ length: 25 }, () => 'both_stores'))),
        ...(await appendEach(other, Array.from({ length: 25 }, () => 'both_stores'))),
      ];
      await waitFor(() => ids.every((id) => first.counts.has(id)), 'the first store to deliver all 50', WAIT_MS);
      expect(second.events).toEqual([]);
      expect((await other.listSubscriptions()).find((info) => info.name === 'two-stores')).toMatchObject({ state: 'running' });

      await one.stop();
      const later = await appendEach(other, ['after_handover', 'after_handover']);
      await waitFor(() => later.every((id) => second.counts.has(id)), 'the second store to take over', WAIT_MS);
      expect(first.events.filter((event) => second.counts.has(event.eventId))).toEqual([]);
    });
  });
}

subscriptionsAndFaults(isolatedServer);
// Again as an application role granted writer and subscriber access (resets, skips and resumes
// by an operator role).
subscriptionsAndFaults(asApplicationRoles(isolatedServer));
