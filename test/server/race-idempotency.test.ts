import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppendResult, DuplicateEventError, type EventStore, type NewEvent } from '../../src/index.js';
import { server, type TestStore } from '../support/engines.js';
import {
  closeAll,
  closeStreamGate,
  createPool,
  oneTo,
  openStores,
  storedStream,
  waitForLockWaiters,
} from '../support/race-helpers.js';

type Outcome = { result: AppendResult } | { error: unknown };

function settle(attempt: Promise<AppendResult>): Promise<Outcome> {
  return attempt.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
}

function batchWithIds(size: number, label: string): NewEvent[] {
  return oneTo(size).map((n) => ({ id: randomUUID(), type: 'payment_received', body: { label, n } }));
}

describe.skipIf(server.unavailable !== null)('concurrent retries of one batch (server)', () => {
  let t: TestStore;
  let url: string;
  let connections: EventStore[];
  let admin: pg.Pool;

  beforeAll(async () => {
    t = await server.createStore();
    url = t.url!;
    connections = await openStores(url, 8, 1);
    admin = createPool(url, 2);
  });
  afterAll(async () => {
    await admin?.end();
    await closeAll(connections ?? []);
    await t?.dispose();
  });

  async function timesStored(ids: string[]): Promise<number[]> {
    const rows = await t.store.query<{ times: number }>(
      `select (select count(*)::int from pgevents.events e where e.event_id = i) as times
         from unnest($1::uuid[]) with ordinality as u(i, ord) order by ord`,
      [ids],
    );
    return rows.map((row) => row.times);
  }

  it('stores a batch sent on two connections at once a single time and returns the same versions and positions to both', async () => {
    const stream = randomUUID();
    await t.store.append(stream, [{ type: 'invoice_issued', body: {} }]);
    const batch = batchWithIds(3, 'retried');
    const gate = await closeStreamGate(url, stream);
    const attempts = connections
      .slice(0, 2)
      .map((connection) => settle(connection.append(stream, batch, { expectedVersion: 1 })));
    await waitForLockWaiters(admin, 2);
    await gate.open();
    const [first, second] = await Promise.all(attempts);

    expect(first).toHaveProperty('result');
    expect(second).toHaveProperty('result');
    const stored = (first as { result: AppendResult }).result;
    expect((second as { result: AppendResult }).result).toEqual(stored);
    expect(stored.events.map((event) => [event.eventId, event.version])).toEqual(
      batch.map((event, index) => [event.id, index + 2]),
    );
    expect(await timesStored(batch.map((event) => event.id!))).toEqual([1, 1, 1]);
    expect((await storedStream(t.store, stream)).map((row) => row.version)).toEqual([1, 2, 3, 4]);
  });

  it('stores a batch that eight connections send at once to a new stream a single time, whatever their expected version', async () => {
    const stream = randomUUID();
    const batch = batchWithIds(2, 'new stream');
    const gate = await closeStreamGate(url, stream);
    const attempts = connections.map((connection, index) =>
      settle(connection.append(stream, batch, { expectedVersion: index % 2 === 0 ? 'no_stream' : 'any' })),
    );
    await waitForLockWaiters(admin, connections.length);
    await gate.open();
    const outcomes = await Promise.all(attempts);

    const results = outcomes.map((outcome) => ('result' in outcome ? outcome.result : outcome.error));
    expect(results.every((result) => !(result instanceof Error))).toBe(true);
    for (const result of results) expect(result).toEqual(results[0]);
    expect(await timesStored(batch.map((event) => event.id!))).toEqual([1, 1]);
    expect((await storedStream(t.store, stream)).map((row) => row.version)).toEqual([1, 2]);
  });

  it('stores each batch once over many ungated rounds of two connections retrying it at the same moment', async () => {
    for (let round = 0; round < 25; round += 1) {
      const stream = randomUUID();
      const batch = batchWithIds(2, `round ${round}`);
      const [first, second] = await Promise.all(
        connections.slice(0, 2).map((connection) => connection.append(stream, batch, { expectedVersion: 'no_stream' })),
      );
      expect(second).toEqual(first);
      expect(await timesStored(batch.map((event) => event.id!))).toEqual([1, 1]);
    }
  });

  it('stores event ids sent at once to two different streams only in one of them', async () => {
    for (let round = 0; round < 10; round += 1) {
      const streams = [randomUUID(), randomUUID()];
      const batch = batchWithIds(2, `misdirected ${round}`);
      const outcomes = await Promise.all(
        streams.map((stream, index) => settle(connections[index]!.append(stream, batch))),
      );

      const winners = outcomes.flatMap((outcome, index) => ('result' in outcome ? [streams[index]!] : []));
      const errors = outcomes.flatMap((outcome) => ('error' in outcome ? [outcome.error] : []));
      expect(winners).toHaveLength(1);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(DuplicateEventError);
      expect(await timesStored(batch.map((event) => event.id!))).toEqual([1, 1]);
      const loser = streams.find((stream) => stream !== winners[0])!;
      expect(await storedStream(t.store, loser)).toEqual([]);
    }
  });

  it('refuses a batch that shares some ids with a batch stored concurrently in the same stream', async () => {
    const stream = randomUUID();
    const [a, b, c] = batchWithIds(3, 'overlap');
    const gate = await closeStreamGate(url, stream);
    const attempts = [
      settle(connections[0]!.append(stream, [a!, b!])),
      settle(connections[1]!.append(stream, [b!, c!])),
    ];
    await waitForLockWaiters(admin, 2);
    await gate.open();
    const outcomes = await Promise.all(attempts);

    const results = outcomes.flatMap((outcome) => ('result' in outcome ? [outcome.result] : []));
    const errors = outcomes.flatMap((outcome) => ('error' in outcome ? [outcome.error] : []));
    expect(results).toHaveLength(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(DuplicateEventError);
    expect(errors[0]).toMatchObject({ stream });
    expect(await timesStored([a!.id!, b!.id!, c!.id!])).toEqual(
      results[0]!.events[0]!.eventId === a!.id ? [1, 1, 0] : [0, 1, 1],
    );
    expect((await storedStream(t.store, stream)).map((row) => row.version)).toEqual([1, 2]);
  });
});
