import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, InvalidEventError } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';

export default function appendContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`append (${engine.name})`, () => {
    let t: TestStore;
    beforeAll(async () => {
      t = await engine.createStore();
    });
    afterAll(async () => {
      await t?.dispose();
    });

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

    it('rejects a stale expected version and writes nothing', async () => {
      const stream = randomUUID();
      await t.store.append(stream, [{ type: 'user_create', body: {} }], { expectedVersion: 'no_stream' });
      const error = await t.store
        .append(stream, [{ type: 'user_update', body: {} }], { expectedVersion: 0 })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect(error).toMatchObject({ stream, expected: '0', actual: 1 });
      expect(await t.store.readStream(stream)).toHaveLength(1);
    });

    it('rejects a stream id that is not a uuid', async () => {
      await expect(t.store.append('not-a-uuid', [{ type: 'x', body: {} }])).rejects.toBeInstanceOf(InvalidEventError);
    });
  });
}
