import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { READ_ALL_TEST_TIMEOUT_MS, readAllPages, readAllWhenVisible, waitFor } from './fixtures.js';

const EVENT_FIELDS = ['body', 'eventId', 'insertedAt', 'metadata', 'position', 'stream', 'transactionId', 'type', 'typeVersion', 'version'];

export default function readContract(engine: TestEngine): void {
  // Tests here wait for readAll to see their events: see READ_ALL_TEST_TIMEOUT_MS.
  describe.skipIf(engine.unavailable !== null)(`read (${engine.name})`, { timeout: READ_ALL_TEST_TIMEOUT_MS }, () => {
    let t: TestStore;
    const streams = [randomUUID(), randomUUID(), randomUUID()];
    /** Positions in append order, with their streams and types. */
    const appended: { position: number; stream: string; type: string }[] = [];

    beforeAll(async () => {
      t = await engine.createStore();
      // Interleave streams and batch sizes so that position order differs from any one stream's order.
      const types = ['user_create', 'user_update', 'user_login'];
      for (let round = 0; round < 5; round++) {
        for (const [index, stream] of streams.entries()) {
          const size = 1 + ((round + index) % 3);
          const batch = Array.from({ length: size }, (_, n) => ({
            type: round === 0 && n === 0 ? 'user_create' : types[1 + ((round + n) % 2)]!,
            body: { round, n },
            metadata: { round },
          }));
          const result = await t.store.append(stream, batch);
          result.events.forEach((event, n) => appended.push({ position: event.position, stream, type: batch[n]!.type }));
        }
      }
    });
    afterAll(async () => {
      await t?.dispose();
    });

    describe('readStream', () => {
      it('returns the events of one stream in version order', async () => {
        const events = await t.store.readStream(streams[1]!);
        const expected = appended.filter((event) => event.stream === streams[1]);
        expect(events.map((event) => event.version)).toEqual(expected.map((_, index) => index + 1));
        expect(events.map((event) => event.position)).toEqual(expected.map((event) => event.position));
        expect(events.every((event) => event.stream === streams[1])).toBe(true);
      });

      it('starts at fromVersion and stops after limit events', async () => {
        const events = await t.store.readStream(streams[0]!, { fromVersion: 3, limit: 4 });
        expect(events.map((event) => event.version)).toEqual([3, 4, 5, 6]);
      });

      it('returns nothing after the last version', async () => {
        const all = await t.store.readStream(streams[2]!);
        expect(await t.store.readStream(streams[2]!, { fromVersion: all.length + 1 })).toEqual([]);
      });

      it('returns nothing for a stream without events', async () => {
        expect(await t.store.readStream(randomUUID())).toEqual([]);
      });

      it('accepts a stream id in upper case', async () => {
        const events = await t.store.readStream(streams[0]!.toUpperCase(), { limit: 1 });
        expect(events[0]!.stream).toBe(streams[0]);
      });
    });

    describe('event objects', () => {
      function expectDocumentedShape(event: StoredEvent) {
        expect(Object.keys(event).sort()).toEqual(EVENT_FIELDS);
        expect(typeof event.position).toBe('number');
        expect(Number.isSafeInteger(event.position)).toBe(true);
        expect(typeof event.version).toBe('number');
        expect(Number.isSafeInteger(event.version)).toBe(true);
        expect(typeof event.stream).toBe('string');
        expect(typeof event.type).toBe('string');
        expect(typeof event.eventId).toBe('string');
        expect(event.insertedAt).toBeInstanceOf(Date);
        expect(Number.isNaN(event.insertedAt.getTime())).toBe(false);
        expect(typeof event.transactionId).toBe('string');
        expect(event.transactionId).toMatch(/^[1-9]\d*$/);
        expect(event.body).toBeTypeOf('object');
        expect(event.metadata).toBeTypeOf('object');
      }

      it('have exactly the documented fields, with numbers as numbers, from readStream', async () => {
        const events = await t.store.readStream(streams[0]!);
        for (const event of events) expectDocumentedShape(event);
      });

      it('have exactly the documented fields, with numbers as numbers, from readAll', async () => {
        const events = await readAllWhenVisible(t.store, appended.length);
        for (const event of events) expectDocumentedShape(event);
      });

      it('carry what was appended, with the metadata defaulting to an empty object', async () => {
        const stream = randomUUID();
        const id = randomUUID();
        const before = Date.now();
        await t.store.append(stream, [
          { type: 'user_create', body: { name: 'Ada', tags: ['a', 'b'], nested: { n: 1.5, ok: true, none: null } }, metadata: { by: 'test' }, id },
          { type: 'user_update', body: {} },
        ]);
        const [first, second] = await t.store.readStream(stream);
        appended.push(...[first!, second!].map(({ position, type }) => ({ position, stream, type })));
        expect(first).toMatchObject({
          stream,
          version: 1,
          type: 'user_create',
          body: { name: 'Ada', tags: ['a', 'b'], nested: { n: 1.5, ok: true, none: null } },
          metadata: { by: 'test' },
          eventId: id,
        });
        expect(second!.metadata).toEqual({});
        expect(first!.transactionId).toBe(second!.transactionId);
        expect(Math.abs(first!.insertedAt.getTime() - before)).toBeLessThan(60_000);
      });
    });

    describe('readAll', () => {
      beforeAll(async () => {
        await readAllWhenVisible(t.store, appended.length);
      }, READ_ALL_TEST_TIMEOUT_MS);

      it('returns every event once, in global order, when paging with the returned cursor', async () => {
        await readAllWhenVisible(t.store, appended.length);
        const pages = await readAllPages(t.store, { limit: 4 });
        const events = pages.flatMap((page) => page.events);
        expect(pages.slice(0, -1).every((page) => page.events.length > 0 && page.events.length <= 4)).toBe(true);
        expect(events.map((event) => event.position)).toEqual(appended.map((event) => event.position));
        expect(new Set(events.map((event) => event.eventId)).size).toBe(events.length);
        const order = await t.store.query<{ id: number }>(
          `select id::int as id from ${t.store.schema}.events order by transaction_id, id`,
        );
        expect(events.map((event) => event.position)).toEqual(order.map((row) => row.id));
      });

      it('returns the same events in one page as in many', async () => {
        const all = await readAllWhenVisible(t.store, appended.length);
        const paged = (await readAllPages(t.store, { limit: 1 })).flatMap((page) => page.events);
        expect(paged).toEqual(all);
      });

      it('returns the cursor it was given when there is nothing after it', async () => {
        await readAllWhenVisible(t.store, appended.length);
        const pages = await readAllPages(t.store, { limit: 1000 });
        const end = pages.at(-1)!;
        expect(end.events).toEqual([]);
        const again = await t.store.readAll({ after: end.cursor });
        expect(again).toEqual({ events: [], cursor: end.cursor });
        expect(end.cursor).toBe(pages.at(-2)!.cursor);
      });

      it('continues from a cursor with the events appended after it', async () => {
        await readAllWhenVisible(t.store, appended.length);
        const pages = await readAllPages(t.store, { limit: 1000 });
        const cursor = pages.at(-1)!.cursor;
        const stream = randomUUID();
        const result = await t.store.append(stream, [
          { type: 'user_create', body: {} },
          { type: 'user_update', body: {} },
        ]);
        appended.push(...result.events.map(({ position }, n) => ({ position, stream, type: n === 0 ? 'user_create' : 'user_update' })));
        const next = await waitFor(async () => {
          const page = await t.store.readAll({ after: cursor });
          return page.events.length >= 2 ? page : undefined;
        }, 'the new events after the cursor');
        expect(next.events.map((event) => event.position)).toEqual(result.events.map((event) => event.position));
        expect(next.cursor).toBe(`${next.events[1]!.transactionId}-${next.events[1]!.position}`);
      });

      it('returns only events of the given types, still every one once', async () => {
        await readAllWhenVisible(t.store, appended.length);
        const events = (await readAllPages(t.store, { limit: 3, types: ['user_create', 'user_login'] })).flatMap(
          (page) => page.events,
        );
        const [row] = await t.store.query<{ n: number }>(
          `select count(*)::int as n from ${t.store.schema}.events where type in ('user_create', 'user_login')`,
        );
        expect(events).toHaveLength(row!.n);
        expect(events.length).toBeGreaterThan(0);
        expect(new Set(events.map((event) => event.type))).toEqual(new Set(['user_create', 'user_login']));
        const positions = events.map((event) => event.position);
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
      });

      it('returns nothing for a type that no event has', async () => {
        expect((await t.store.readAll({ types: ['no_such_type'] })).events).toEqual([]);
      });

      it('starts from the beginning with the cursor "0-0"', async () => {
        const all = await readAllWhenVisible(t.store, appended.length);
        const fromZero = await t.store.readAll({ after: '0-0', limit: 3 });
        expect(fromZero.events).toEqual(all.slice(0, 3));
      });

      it('does not return the events of a transaction that has not committed, which readStream in it sees', async () => {
        const stream = randomUUID();
        const before = await readAllWhenVisible(t.store, appended.length);
        await t.store.transaction(async (tx) => {
          await t.store.append(stream, [{ type: 'user_create', body: {} }], { client: tx });
          expect(await t.store.readStream(stream, { client: tx })).toHaveLength(1);
          const last = before.at(-1)!;
          const inside = await t.store.readAll({ client: tx, after: `${last.transactionId}-${last.position}` });
          expect(inside.events.filter((event) => event.stream === stream)).toEqual([]);
        });
        const after = await readAllWhenVisible(t.store, before.length + 1);
        const committed = after.filter((event) => event.stream === stream);
        expect(committed).toHaveLength(1);
        appended.push({ position: committed[0]!.position, stream, type: 'user_create' });
      });
    });
  });
}
