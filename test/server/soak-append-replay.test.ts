import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, type EventStore, type NewEvent, type Subscription } from '../../src/index.js';
import { server, type TestStore } from '../support/engines.js';
import { checkReadModel, closeAll, COUNTED_TYPES, defineCountingProjection, openStores } from '../support/race-helpers.js';

/**
 * A bounded soak: writers with expected versions over shared streams (so they conflict), a plain
 * SQL writer, idempotent re-sends, replays (full and one-stream) and online rebuilds running
 * throughout, and two live subscribers that must see every acknowledged event.
 */
const SOAK_MS = Number(process.env.PGEVENTS_SOAK_MS ?? 20_000);
/**
 * The soak goes on past SOAK_MS until it has seen every kind of operation it asserts on (a
 * conflict, a re-send, two full and two one-stream replays, a rebuild): a loaded machine does less
 * in the same time. Past this much more, it stops anyway and the assertions say what was missing.
 */
const COVERAGE_GRACE_MS = 120_000;
const API_WRITERS = 4;
const STREAMS = 40;

interface Acknowledged {
  eventId: string;
  stream: string;
  version: number;
  position: number;
}

describe.skipIf(server.unavailable !== null)('soak: writers, conflicts, retries, replays, rebuilds and live subscribers together (server)', { timeout: SOAK_MS + COVERAGE_GRACE_MS + 180_000 }, () => {
  let t: TestStore;
  let writers: EventStore[];
  let replayer: EventStore;
  let subscriberStores: EventStore[];
  let sqlWriter: pg.Client;

  beforeAll(async () => {
    t = await server.createStore();
    await defineCountingProjection(t.store);
    writers = await openStores(t.url!, API_WRITERS, 1);
    replayer = (await openStores(t.url!, 1, 1))[0]!;
    subscriberStores = await openStores(t.url!, 2, 2);
    sqlWriter = new pg.Client({ connectionString: t.url });
    await sqlWriter.connect();
  });
  afterAll(async () => {
    await sqlWriter?.end();
    await closeAll([...(writers ?? []), ...(replayer ? [replayer] : []), ...(subscriberStores ?? [])]);
    await t?.dispose();
  });

  it(`keeps streams gapless, every acknowledged event once and seen by every subscriber, and the read model equal to a fresh replay after ${SOAK_MS / 1000} s`, async () => {
    const streams = Array.from({ length: STREAMS }, () => randomUUID());
    const acknowledged: Acknowledged[] = [];
    const unexpected: unknown[] = [];
    const stats = { appends: 0, conflicts: 0, resends: 0, plainInserts: 0, fullReplays: 0, streamReplays: 0, rebuilds: 0 };
    const seen = subscriberStores.map(() => new Set<string>());
    const subscriptions: Subscription[] = await Promise.all(
      subscriberStores.map((store, index) =>
        store.subscribe({
          name: `soak-${index}`,
          from: 'start',
          batchSize: 50,
          handler: async (events) => {
            for (const event of events) seen[index]!.add(event.eventId);
          },
        }),
      ),
    );
    const deadline = Date.now() + SOAK_MS;
    const lastChance = deadline + COVERAGE_GRACE_MS;
    const covered = () =>
      stats.conflicts > 0 && stats.resends > 0 && stats.fullReplays >= 2 && stats.streamReplays >= 2 && stats.rebuilds >= 1;
    const soaking = () => Date.now() < deadline || (!covered() && Date.now() < lastChance);
    const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;

    async function versionOf(store: EventStore, stream: string): Promise<number> {
      const [row] = await store.query<{ version: number }>(`select version::int from pgevents.streams where stream = $1`, [stream]);
      return row?.version ?? 0;
    }

    async function apiWriter(store: EventStore): Promise<void> {
      let last: { stream: string; expected: number; batch: NewEvent[]; result: Acknowledged[] } | undefined;
      while (soaking()) {
        try {
          if (last && Math.random() < 0.1) {
            // The same batch again, as after a lost answer: the stored versions come back, nothing is added.
            const again = await store.append(last.stream, last.batch, { expectedVersion: last.expected });
            if (JSON.stringify(again.events.map((e) => [e.eventId, e.version, e.position])) !==
                JSON.stringify(last.result.map((e) => [e.eventId, e.version, e.position]))) {
              unexpected.push(new Error(`a re-sent batch of ${last.stream} came back different`));
            }
            stats.resends += 1;
            continue;
          }
          const stream = pick(streams);
          const expected = await versionOf(store, stream);
          const batch: NewEvent[] = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, (_, k) => ({
            id: randomUUID(),
            type: Math.random() < 0.8 ? COUNTED_TYPES[k % 2]! : 'not_counted',
            body: { k },
          }));
          const result = await store.append(stream, batch, { expectedVersion: expected === 0 ? 'no_stream' : expected });
          const events = result.events.map((event) => ({ ...event, stream }));
          acknowledged.push(...events);
          last = { stream, expected, batch, result: events };
          stats.appends += 1;
        } catch (error) {
          if (error instanceof ConcurrencyError) stats.conflicts += 1;
          else unexpected.push(error);
        }
      }
    }

    async function plainSqlWriter(): Promise<void> {
      while (soaking()) {
        const stream = pick(streams);
        try {
          const { rows } = await sqlWriter.query<{ event_id: string; version: string; id: string }>(
            `insert into pgevents.events (type, uuid, body)
             values ('${COUNTED_TYPES[0]}', $1, '{"plain": 1}'), ('not_counted', $1, '{"plain": 2}')
             returning event_id::text, version, id`,
            [stream],
          );
          acknowledged.push(...rows.map((row) => ({ eventId: row.event_id, stream, version: Number(row.version), position: Number(row.id) })));
          stats.plainInserts += 1;
        } catch (error) {
          unexpected.push(error);
        }
      }
    }

    async function replays(): Promise<void> {
      while (soaking()) {
        try {
          if (stats.rebuilds <= stats.fullReplays / 2) {
            await replayer.rebuild('counting', { batchSize: 200 });
            stats.rebuilds += 1;
          } else if (stats.fullReplays <= stats.streamReplays / 4) {
            await replayer.replay('counting', { batchSize: 200 });
            stats.fullReplays += 1;
          } else {
            await replayer.replay('counting', { stream: pick(streams), batchSize: 50 });
            stats.streamReplays += 1;
          }
        } catch (error) {
          unexpected.push(error);
        }
      }
    }

    await Promise.all([...writers.map(apiWriter), plainSqlWriter(), replays()]);
    const store = t.store;
    expect(unexpected).toEqual([]);
    expect(stats.conflicts).toBeGreaterThan(0);
    expect(stats.resends).toBeGreaterThan(0);
    expect(stats.fullReplays).toBeGreaterThanOrEqual(2);
    expect(stats.streamReplays).toBeGreaterThanOrEqual(2);
    expect(stats.rebuilds).toBeGreaterThanOrEqual(1);

    // Every live subscriber saw every acknowledged event, and nothing that was not stored.
    await Promise.all(subscriptions.map((subscription) => subscription.caughtUp()));
    await Promise.all(subscriptions.map((subscription) => subscription.stop()));
    const acknowledgedIds = new Set(acknowledged.map((event) => event.eventId));
    for (const ids of seen) {
      expect(acknowledged.filter((event) => !ids.has(event.eventId))).toEqual([]);
      expect([...ids].filter((id) => !acknowledgedIds.has(id))).toEqual([]);
    }

    // Every acknowledged event is stored once, where it was acknowledged, and nothing else is.
    const stored = await store.query<{ event_id: string; uuid: string; version: number; position: string }>(
      `select event_id::text, uuid::text, version::int, id::text as position from pgevents.events`,
    );
    expect(stored).toHaveLength(acknowledged.length);
    const byId = new Map(stored.map((row) => [row.event_id, row]));
    const misplaced = acknowledged.filter((event) => {
      const row = byId.get(event.eventId);
      return !row || row.uuid !== event.stream || row.version !== event.version || Number(row.position) !== event.position;
    });
    expect(misplaced).toEqual([]);

    // Gapless streams, stream rows that match, and position order equal to version order in each stream.
    const problems = await store.query(
      `select uuid::text from (
         select uuid, version, id, lag(id) over (partition by uuid order by version) as previous_id,
                count(*) over (partition by uuid) as n, max(version) over (partition by uuid) as top
           from pgevents.events) e
        where n <> top or id <= previous_id
       union
       select s.stream::text from pgevents.streams s
        where s.version <> (select count(*) from pgevents.events e where e.uuid = s.stream)`,
    );
    expect(problems).toEqual([]);

    const check = await checkReadModel(store);
    expect(check.counts).toEqual(check.expected);
    expect(check.strayPositions).toEqual([]);
    expect(check.missingPositions).toEqual([]);
    const live = await store.query(`select uuid::text, n from public.stream_counts order by uuid`);
    await store.replay('counting');
    expect(await store.query(`select uuid::text, n from public.stream_counts order by uuid`)).toEqual(live);
  });
});
