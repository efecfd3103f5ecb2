import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ProjectionDefinitionError } from '../../src/index.js';
import type { CommandHandler, EventStore, JsonValue, StoredEventOf, StreamFold } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { engineLabel, rejectionOf } from './subscriptions.contract.js';

type AccountEvent =
  | { type: 'deposited'; body: { amount: number } }
  | { type: 'withdrawn'; body: { amount: number } }
  | { type: 'statement_closed'; body: Record<string, never> }
  | { type: 'note_added'; body: { text: string } };
type Account = { balance: number; count: number };

const FOLDED = ['deposited', 'withdrawn', 'statement_closed'];

/** The TypeScript fold, which the SQL evolve below must match (note_added is not folded). */
function evolve(state: Account, event: StoredEventOf<AccountEvent>): Account {
  switch (event.type) {
    case 'deposited':
      return { balance: state.balance + event.body.amount, count: state.count + 1 };
    case 'withdrawn':
      return { balance: state.balance - event.body.amount, count: state.count + 1 };
    case 'statement_closed':
      return { ...state, count: state.count + 1 };
    case 'note_added':
      return state;
  }
}
const initial = (): Account => ({ balance: 0, count: 0 });
const revive = (json: JsonValue): Account => {
  const state = json as { balance: number; count: number };
  return { balance: Number(state.balance), count: Number(state.count) };
};
const live: StreamFold<Account, AccountEvent> = { initial, evolve };
const from = (snapshot: string): StreamFold<Account, AccountEvent> => ({ initial, evolve, snapshot, revive });

const evolveSql = (schema: string) => `
  create function public.account_evolve(state jsonb, event ${schema}.events) returns jsonb
  language sql immutable
  as $$
    select jsonb_build_object(
      'balance', (state ->> 'balance')::numeric + case event.type
                   when 'deposited' then (event.body ->> 'amount')::numeric
                   when 'withdrawn' then -(event.body ->> 'amount')::numeric
                   else 0 end,
      'count', (state ->> 'count')::int + 1)
  $$;
  create function public.account_evolve_v2(state jsonb, event ${schema}.events) returns jsonb
  language sql immutable
  as $$ select public.account_evolve(state, event) || '{"v2": true}' $$;`;

const accountEvent: fc.Arbitrary<AccountEvent> = fc.oneof(
  fc.integer({ min: 1, max: 100 }).map((amount) => ({ type: 'deposited' as const, body: { amount } })),
  fc.integer({ min: 1, max: 100 }).map((amount) => ({ type: 'withdrawn' as const, body: { amount } })),
  fc.constant({ type: 'statement_closed' as const, body: {} }),
  fc.constant({ type: 'note_added' as const, body: { text: 'n' } }),
);

export default function snapshotsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`snapshots kept by the database (${engineLabel(engine)})`, () => {
    let t: TestStore;
    /** Appends and handles commands as the application would. */
    let store: EventStore;
    /** Defines, replays and rebuilds snapshots: the store's owner. */
    let owner: EventStore;

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      owner = t.owner ?? store;
      await owner.execScript(evolveSql(owner.schema));
      const common = { evolve: 'account_evolve', types: FOLDED, initial: { balance: 0, count: 0 } };
      expect(await owner.defineSnapshot({ name: 'acct_every', ...common })).toMatchObject({
        name: 'acct_every', evolve: `public.account_evolve(jsonb, ${owner.schema}.events)`, every: 1, onTypes: null,
        table: `${owner.schema}_snapshots.acct_every`,
      });
      await owner.defineSnapshot({ name: 'acct_three', ...common, every: 3 });
      await owner.defineSnapshot({ name: 'acct_closed', ...common, every: null, onTypes: ['statement_closed'] });
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('gives the state of a live fold from every snapshot, for random histories (every event, every 3, on chosen types)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(accountEvent, { minLength: 1, maxLength: 5 }), { minLength: 0, maxLength: 6 }), async (batches) => {
          const stream = randomUUID();
          for (const batch of batches) await store.append(stream, batch);
          const expected = await store.aggregate(stream, live);
          expect(expected.snapshotVersion).toBeNull();
          for (const name of ['acct_every', 'acct_three', 'acct_closed']) {
            const got = await store.aggregate(stream, from(name));
            expect({ name, state: got.state, version: got.version }).toEqual({ name, state: expected.state, version: expected.version });
            if (got.snapshotVersion !== null) expect(got.snapshotVersion).toBeLessThanOrEqual(got.version);
          }
          const foldedVersions = (await store.readStream(stream)).filter((e) => FOLDED.includes(e.type)).map((e) => e.version);
          expect((await store.aggregate(stream, from('acct_every'))).snapshotVersion).toBe(foldedVersions.at(-1) ?? null);
        }),
        { numRuns: 15 },
      );
    });

    it('keeps rows that match a replay, and reads the snapshot and the newer events in one statement', async () => {
      const stream = randomUUID();
      await store.append(stream, [
        { type: 'deposited', body: { amount: 10 } },
        { type: 'deposited', body: { amount: 5 } },
        { type: 'statement_closed', body: {} },
        { type: 'withdrawn', body: { amount: 3 } },
      ]);
      const rows = async (name: string) =>
        (await owner.query<{ version: number; state: unknown }>(
          `select version, state from ${owner.schema}_snapshots.${name} where stream = $1`, [stream]))
          .map((row) => [Number(row.version), row.state]);
      expect(await rows('acct_three')).toEqual([[4, { balance: 12, count: 4 }]]);
      expect(await rows('acct_closed')).toEqual([[3, { balance: 15, count: 3 }]]);
      const before = await rows('acct_closed');
      await owner.replay('acct_closed');
      expect(await rows('acct_closed')).toEqual(before);
      const fromClosed = await store.aggregate(stream, from('acct_closed'));
      expect(fromClosed).toEqual({ state: { balance: 12, count: 4 }, version: 4, snapshotVersion: 3 });
    });

    it('ignores a snapshot whose evolve changed until it is rebuilt, then starts from it again', async () => {
      const stream = randomUUID();
      await store.append(stream, [{ type: 'deposited', body: { amount: 7 } }]);
      await owner.defineSnapshot({ name: 'acct_every', evolve: 'account_evolve_v2', types: FOLDED, initial: { balance: 0, count: 0 }, version: 2 });
      expect((await store.aggregate(stream, from('acct_every'))).snapshotVersion).toBeNull();
      await owner.rebuild('acct_every');
      const [row] = await owner.query<{ state: { v2?: boolean } }>(
        `select state from ${owner.schema}_snapshots.acct_every where stream = $1`, [stream]);
      expect(row?.state.v2).toBe(true);
      const rebuilt = await store.aggregate(stream, from('acct_every'));
      expect(rebuilt.snapshotVersion).toBe(1);
      expect(rebuilt.state).toEqual({ balance: 7, count: 1 });
    });

    it('handles 20 concurrent commands on one stream from its snapshot without losing an update', async () => {
      const stream = randomUUID();
      const deposit: CommandHandler<Account, AccountEvent, { amount: number }> = {
        ...from('acct_three'),
        decide: (command) => [{ type: 'deposited', body: { amount: command.amount } }],
      };
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, n) => store.handle(stream, deposit, { amount: n + 1 }, { maxAttempts: 100 })),
      );
      expect(results.map((result) => result.nextVersion).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, n) => n + 1));
      const final = await store.aggregate(stream, from('acct_three'));
      expect(final.state).toEqual({ balance: 210, count: 20 });
      expect(final.snapshotVersion).toBe(18);
      expect(await store.aggregate(stream, live)).toMatchObject({ state: { balance: 210, count: 20 }, version: 20 });
    });

    it('lists snapshots, refuses bad definitions, and drops one with its table', async () => {
      expect((await store.listSnapshots()).map((s) => [s.name, s.every, s.onTypes])).toEqual([
        ['acct_closed', null, ['statement_closed']],
        ['acct_every', 1, null],
        ['acct_three', 3, null],
      ]);
      const badEvolve = await rejectionOf(owner.defineSnapshot({ name: 'acct_bad', evolve: 'no_such_function', types: FOLDED }));
      expect(badEvolve).toBeInstanceOf(ProjectionDefinitionError);
      expect((badEvolve as Error).message).toContain('is not a function (state jsonb, event');
      await expect(owner.defineSnapshot({ name: 'acct_bad', evolve: 'account_evolve', types: FOLDED, every: null })).rejects.toThrow(
        /every n >= 1 events, or on chosen event types/,
      );
      await expect(owner.defineSnapshot({ name: 'Bad', evolve: 'account_evolve', types: FOLDED })).rejects.toThrow(/Invalid projection name/);
      await expect(store.aggregate(randomUUID(), from('Bad name'))).rejects.toThrow(/is not a snapshot name/);
      const unknown = await rejectionOf(store.aggregate(randomUUID(), from('no_such_snapshot')));
      expect(unknown).toBeInstanceOf(InvalidArgumentError);
      expect((unknown as Error).message).toBe('Unknown snapshot: no_such_snapshot');
      await owner.dropSnapshot('acct_closed');
      expect((await store.listSnapshots()).map((s) => s.name)).toEqual(['acct_every', 'acct_three']);
      const [table] = await owner.query<{ exists: boolean }>(`select to_regclass('${owner.schema}_snapshots.acct_closed') is not null as exists`);
      expect(table?.exists).toBe(false);
    });
  });
}
