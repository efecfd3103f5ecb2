import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, DuplicateEventError, type ExpectedVersion, InvalidEventError } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { countEvents, rejectionOf } from './fixtures.js';

export default function appendContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`append (${engine.name})`, () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await engine.createStore();
    });
    afterAll(async () => {
      await t?.dispose();
    });

    /** A stream with `count` events already stored. */
    async function streamAt(count: number): Promise<string> {
      const stream = randomUUID();
      if (count > 0) {
        await t.store.append(
          stream,
          Array.from({ length: count }, (_, index) => ({ type: 'user_update', body: { n: index + 1 } })),
        );
      }
      return stream;
    }

    it('appends a batch atomically and returns versions and positions', async () => {
      const stream = randomUUID();
      const result = await t.store.append(stream, [
        { type: 'user_create', body: { name: 'Ada' } },
        { type: 'user_update', body: { name: 'Ada L.' } },
      ]);
      expect(result.nextVersion).toBe(2);
      expect(result.events.map((event) => event.version)).toEqual([1, 2]);
      expect(result.events[1]!.position).toBeGreaterThan(result.events[0]!.position);
      const events = await t.store.readStream(stream);
      expect(events.map((event) => [event.type, event.version, event.body])).toEqual([
        ['user_create', 1, { name: 'Ada' }],
        ['user_update', 2, { name: 'Ada L.' }],
      ]);
    });

    it('returns the stored event ids, versions and positions of the batch, as numbers', async () => {
      const stream = await streamAt(2);
      const ids = [randomUUID(), randomUUID(), randomUUID()];
      const result = await t.store.append(
        stream,
        ids.map((id) => ({ type: 'user_update', body: {}, id })),
      );
      expect(result.nextVersion).toBe(5);
      expect(result.events.map((event) => event.eventId)).toEqual(ids);
      expect(result.events.map((event) => event.version)).toEqual([3, 4, 5]);
      for (const event of result.events) {
        expect(typeof event.version).toBe('number');
        expect(typeof event.position).toBe('number');
      }
      const stored = await t.store.readStream(stream, { fromVersion: 3 });
      expect(stored.map((event) => ({ eventId: event.eventId, version: event.version, position: event.position }))).toEqual(
        result.events,
      );
    });

    it('generates an event id for events given without one', async () => {
      const stream = randomUUID();
      const result = await t.store.append(stream, [{ type: 'user_create', body: {} }]);
      expect(result.events[0]!.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect((await t.store.readStream(stream))[0]!.eventId).toBe(result.events[0]!.eventId);
    });

    it('continues the versions of a stream across batches', async () => {
      const stream = await streamAt(3);
      const result = await t.store.append(stream, [{ type: 'user_update', body: {} }]);
      expect(result.nextVersion).toBe(4);
      expect((await t.store.readStream(stream)).map((event) => event.version)).toEqual([1, 2, 3, 4]);
    });

    it('writes nothing when one event of a batch is bad', async () => {
      const stream = await streamAt(1);
      const before = await countEvents(t.store);
      const error = await rejectionOf(
        t.store.append(stream, [
          { type: 'user_update', body: { name: 'fine' } },
          { type: 'user update', body: { name: 'bad type' } },
        ]),
      );
      expect(error).toBeInstanceOf(InvalidEventError);
      expect(error).toMatchObject({ field: 'type', index: 1 });
      expect(await countEvents(t.store)).toBe(before);
      expect(await t.store.readStream(stream)).toHaveLength(1);
    });

    describe('expected version', () => {
      const accepted: { expected: ExpectedVersion; storedBefore: number; title: string }[] = [
        { expected: 'any', storedBefore: 0, title: "accepts 'any' for a new stream" },
        { expected: 'any', storedBefore: 2, title: "accepts 'any' for an existing stream" },
        { expected: 'no_stream', storedBefore: 0, title: "accepts 'no_stream' for a new stream" },
        { expected: 'stream_exists', storedBefore: 2, title: "accepts 'stream_exists' for an existing stream" },
        { expected: 0, storedBefore: 0, title: 'accepts the exact version 0 for a new stream' },
        { expected: 2, storedBefore: 2, title: 'accepts the exact current version of an existing stream' },
      ];
      for (const { expected, storedBefore, title } of accepted) {
        it(title, async () => {
          const stream = await streamAt(storedBefore);
          const result = await t.store.append(stream, [{ type: 'user_update', body: {} }], { expectedVersion: expected });
          expect(result.nextVersion).toBe(storedBefore + 1);
          expect(await t.store.readStream(stream)).toHaveLength(storedBefore + 1);
        });
      }

      const rejected: { expected: ExpectedVersion; storedBefore: number; title: string }[] = [
        { expected: 'no_stream', storedBefore: 1, title: "rejects 'no_stream' for an existing stream" },
        { expected: 'stream_exists', storedBefore: 0, title: "rejects 'stream_exists' for a new stream" },
        { expected: 0, storedBefore: 2, title: 'rejects the exact version 0 for an existing stream' },
        { expected: 1, storedBefore: 2, title: 'rejects a stale expected version' },
        { expected: 3, storedBefore: 2, title: 'rejects an expected version ahead of the stream' },
        { expected: 1, storedBefore: 0, title: 'rejects an exact version for a new stream' },
      ];
      for (const { expected, storedBefore, title } of rejected) {
        it(`${title}, with ConcurrencyError and nothing written`, async () => {
          const stream = await streamAt(storedBefore);
          const before = await countEvents(t.store);
          const error = await rejectionOf(
            t.store.append(stream, [{ type: 'user_update', body: {} }, { type: 'user_update', body: {} }], {
              expectedVersion: expected,
            }),
          );
          expect(error).toBeInstanceOf(ConcurrencyError);
          expect(error).toMatchObject({ code: 'CONCURRENCY', stream, expected, actual: storedBefore });
          expect((error as ConcurrencyError).message).toContain(stream);
          expect(await countEvents(t.store)).toBe(before);
          expect(await t.store.readStream(stream)).toHaveLength(storedBefore);
        });
      }

      it('leaves a new stream absent after a rejected append', async () => {
        const stream = randomUUID();
        await rejectionOf(t.store.append(stream, [{ type: 'user_update', body: {} }], { expectedVersion: 'stream_exists' }));
        const rows = await t.store.query(`select 1 from ${t.store.schema}.streams where stream = $1`, [stream]);
        expect(rows).toHaveLength(0);
        await t.store.append(stream, [{ type: 'user_create', body: {} }], { expectedVersion: 'no_stream' });
      });
    });

    describe('idempotent retry', () => {
      it('stores nothing when a batch is appended again, and returns the stored versions and positions', async () => {
        const stream = await streamAt(1);
        const batch = [
          { type: 'user_update', body: { n: 1 }, id: randomUUID() },
          { type: 'user_update', body: { n: 2 }, id: randomUUID() },
        ];
        const first = await t.store.append(stream, batch, { expectedVersion: 1 });
        const before = await countEvents(t.store);
        const retry = await t.store.append(stream, batch, { expectedVersion: 1 });
        expect(retry).toEqual(first);
        expect(retry.nextVersion).toBe(3);
        expect(await countEvents(t.store)).toBe(before);
      });

      const expectations: ExpectedVersion[] = ['any', 'no_stream', 'stream_exists', 0, 1, 2, 99];
      for (const expected of expectations) {
        it(`treats a retry as done whatever the expected version (${JSON.stringify(expected)})`, async () => {
          const stream = randomUUID();
          const batch = [
            { type: 'user_create', body: {}, id: randomUUID() },
            { type: 'user_update', body: {}, id: randomUUID() },
          ];
          const first = await t.store.append(stream, batch, { expectedVersion: 'no_stream' });
          await t.store.append(stream, [{ type: 'user_update', body: {} }]);
          const before = await countEvents(t.store);
          const retry = await t.store.append(stream, batch, { expectedVersion: expected });
          expect(retry).toEqual(first);
          expect(await countEvents(t.store)).toBe(before);
        });
      }

      it('treats a retry of part of an earlier batch as done', async () => {
        const stream = randomUUID();
        const ids = [randomUUID(), randomUUID(), randomUUID()];
        const first = await t.store.append(stream, ids.map((id) => ({ type: 'user_update', body: {}, id })));
        const before = await countEvents(t.store);
        const retry = await t.store.append(stream, [{ type: 'user_update', body: {}, id: ids[1]! }]);
        expect(retry).toEqual({ nextVersion: 2, events: [first.events[1]] });
        expect(await countEvents(t.store)).toBe(before);
      });

      it('rejects a batch of which only some ids are stored, with DuplicateEventError and nothing written', async () => {
        const stream = randomUUID();
        const stored = randomUUID();
        await t.store.append(stream, [{ type: 'user_create', body: {}, id: stored }]);
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.append(stream, [
            { type: 'user_create', body: {}, id: stored },
            { type: 'user_update', body: {}, id: randomUUID() },
          ]),
        );
        expect(error).toBeInstanceOf(DuplicateEventError);
        expect(error).toMatchObject({ code: 'DUPLICATE_EVENT', stream });
        expect(await countEvents(t.store)).toBe(before);
        expect(await t.store.readStream(stream)).toHaveLength(1);
      });

      it('rejects an id already stored in another stream, with DuplicateEventError and nothing written', async () => {
        const first = randomUUID();
        const second = randomUUID();
        const id = randomUUID();
        await t.store.append(first, [{ type: 'user_create', body: {}, id }]);
        const before = await countEvents(t.store);
        const error = await rejectionOf(t.store.append(second, [{ type: 'user_create', body: {}, id }]));
        expect(error).toBeInstanceOf(DuplicateEventError);
        expect(error).toMatchObject({ stream: second });
        expect(await countEvents(t.store)).toBe(before);
        expect(await t.store.readStream(second)).toEqual([]);
        expect(await t.store.readStream(first)).toHaveLength(1);
      });

      it('rejects a batch that holds the same id twice, with DuplicateEventError and nothing written', async () => {
        const stream = randomUUID();
        const id = randomUUID();
        const before = await countEvents(t.store);
        const error = await rejectionOf(
          t.store.append(stream, [
            { type: 'user_create', body: {}, id },
            { type: 'user_update', body: {}, id },
          ]),
        );
        expect(error).toBeInstanceOf(DuplicateEventError);
        expect(error).toMatchObject({ stream });
        expect(await countEvents(t.store)).toBe(before);
      });
    });
  });
}
