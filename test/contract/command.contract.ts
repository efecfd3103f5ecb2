import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, InvalidArgumentError, InvalidEventError } from '../../src/index.js';
import type { CommandHandler, EventStore, StoredEventOf } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { engineLabel, rejectionOf } from './subscriptions.contract.js';

type CounterEvent = { type: 'counter_opened'; body: { label: string } } | { type: 'counter_added'; body: { amount: number } };
type Counter = { label: string | null; total: number; seen: number[] };
type CounterCommand = { kind: 'open'; label: string } | { kind: 'add'; amount: number; id?: string } | { kind: 'nothing' };

const initial = (): Counter => ({ label: null, total: 0, seen: [] });
function evolve(state: Counter, event: StoredEventOf<CounterEvent>): Counter {
  const seen = [...state.seen, event.version];
  switch (event.type) {
    case 'counter_opened':
      return { ...state, label: event.body.label, seen };
    case 'counter_added':
      return { ...state, total: state.total + event.body.amount, seen };
  }
}

const counter: CommandHandler<Counter, CounterEvent, CounterCommand> = {
  initial,
  evolve,
  decide(command, state) {
    if (command.kind === 'nothing') return [];
    if (command.kind === 'open') {
      if (state.label !== null) throw new Error(`already open as ${state.label}`);
      return [{ type: 'counter_opened', body: { label: command.label } }];
    }
    if (state.label === null) throw new Error('not open');
    return [{ type: 'counter_added', body: { amount: command.amount }, ...(command.id ? { id: command.id } : {}) }];
  },
};

export default function commandContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`aggregate and handle (${engineLabel(engine)})`, () => {
    let t: TestStore;
    let store: EventStore;

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('folds a stream in version order, across pages of the read, into its state and last version', async () => {
      const stream = randomUUID();
      await store.append(stream, [{ type: 'counter_opened', body: { label: 'big' } }]);
      for (let batch = 0; batch < 3; batch++) {
        await store.append(stream, Array.from({ length: 500 }, (_, n) => ({ type: 'counter_added', body: { amount: batch * 500 + n } })));
      }
      const { state, version } = await store.aggregate(stream, { initial, evolve });
      expect(version).toBe(1501);
      expect(state.label).toBe('big');
      expect(state.total).toBe((1499 * 1500) / 2);
      expect(state.seen).toEqual(Array.from({ length: 1501 }, (_, n) => n + 1));
    });

    it('gives the initial state and version 0 for a stream without events', async () => {
      expect(await store.aggregate(randomUUID(), { initial, evolve })).toEqual({ state: initial(), version: 0, snapshotVersion: null });
    });

    it('appends what decide returns, expecting the version it decided on, and refuses what decide refuses', async () => {
      const stream = randomUUID();
      const opened = await store.handle(stream, counter, { kind: 'open', label: 'a' });
      expect(opened).toMatchObject({ version: 0, nextVersion: 1, attempts: 1 });
      expect(opened.events).toHaveLength(1);
      const added = await store.handle(stream, counter, { kind: 'add', amount: 5 });
      expect(added).toMatchObject({ version: 1, nextVersion: 2, attempts: 1, state: { label: 'a', total: 0 } });

      const refused = await rejectionOf(store.handle(stream, counter, { kind: 'open', label: 'b' }));
      expect((refused as Error).message).toBe('already open as a');
      const nothing = await store.handle(stream, counter, { kind: 'nothing' });
      expect(nothing).toMatchObject({ version: 2, nextVersion: 2, events: [] });
      expect((await store.readStream(stream)).map((event) => event.type)).toEqual(['counter_opened', 'counter_added']);
    });

    it('decides again on the new state when another writer appended in between, and gives up after maxAttempts', async () => {
      const stream = randomUUID();
      await store.handle(stream, counter, { kind: 'open', label: 'raced' });
      let interfere = 1;
      const racing: CommandHandler<Counter, CounterEvent, CounterCommand> = {
        ...counter,
        async decide(command, state) {
          if (interfere > 0) {
            interfere -= 1;
            await store.append(stream, [{ type: 'counter_added', body: { amount: 100 } }]);
          }
          return counter.decide(command, state);
        },
      };
      const result = await store.handle(stream, racing, { kind: 'add', amount: 1 });
      expect(result).toMatchObject({ attempts: 2, version: 2, nextVersion: 3, state: { total: 100 } });
      expect((await store.aggregate(stream, { initial, evolve })).state.total).toBe(101);

      interfere = 3;
      const error = await rejectionOf(store.handle(stream, racing, { kind: 'add', amount: 1 }, { maxAttempts: 3 }));
      expect(error).toBeInstanceOf(ConcurrencyError);
      expect((await store.aggregate(stream, { initial, evolve })).state.total).toBe(401);
    });

    it('stores nothing twice for a repeated command whose events carry ids', async () => {
      const stream = randomUUID();
      await store.handle(stream, counter, { kind: 'open', label: 'ids' });
      const id = randomUUID();
      const first = await store.handle(stream, counter, { kind: 'add', amount: 7, id });
      const again = await store.handle(stream, counter, { kind: 'add', amount: 7, id });
      expect(again.events).toEqual(first.events);
      expect(again.nextVersion).toBe(2);
      expect((await store.aggregate(stream, { initial, evolve })).state.total).toBe(7);
    });

    it("runs once in the caller's transaction: its events commit or roll back with it", async () => {
      const stream = randomUUID();
      await store.transaction(async (tx) => {
        const opened = await store.handle(stream, counter, { kind: 'open', label: 'tx' }, { client: tx });
        expect(opened.nextVersion).toBe(1);
        expect((await store.aggregate(stream, { initial, evolve }, { client: tx })).state.label).toBe('tx');
      });
      const error = await rejectionOf(
        store.transaction(async (tx) => {
          await store.handle(stream, counter, { kind: 'add', amount: 3 }, { client: tx });
          throw new Error('the caller changed its mind');
        }),
      );
      expect((error as Error).message).toBe('the caller changed its mind');
      expect(await store.aggregate(stream, { initial, evolve })).toMatchObject({ version: 1, state: { total: 0 } });
    });

    it('loses no update under 20 concurrent commands on one stream', async () => {
      const stream = randomUUID();
      await store.handle(stream, counter, { kind: 'open', label: 'busy' });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, n) => store.handle(stream, counter, { kind: 'add', amount: n + 1 }, { maxAttempts: 1000 })),
      );
      expect(results.map((result) => result.nextVersion).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, n) => n + 2));
      const { state, version } = await store.aggregate(stream, { initial, evolve });
      expect(version).toBe(21);
      expect(state.total).toBe(210);
    });

    it('refuses a malformed stream, a handler without its functions and a bad maxAttempts, and writes nothing', async () => {
      await expect(store.aggregate('not-a-uuid', { initial, evolve })).rejects.toBeInstanceOf(InvalidEventError);
      await expect(store.aggregate(randomUUID(), { initial } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', argument: 'evolve' });
      const stream = randomUUID();
      await expect(store.handle(stream, { initial, evolve } as never, { kind: 'nothing' })).rejects.toMatchObject({ argument: 'decide' });
      for (const maxAttempts of [0, 1.5, 1001]) {
        await expect(store.handle(stream, counter, { kind: 'open', label: 'x' }, { maxAttempts })).rejects.toBeInstanceOf(InvalidArgumentError);
      }
      expect(await store.readStream(stream)).toEqual([]);
    });
  });
}
