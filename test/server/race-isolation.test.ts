import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/index.js';
import { server, type TestStore } from '../support/engines.js';
import { caught, closeAll, createPool, openStores, waitForLockWaiters, withDeadline } from '../support/race-helpers.js';

// A read model in the seed's style: the first event inserts the row, later events UPDATE it. Such a
// handler finds nothing to update when its snapshot shows the table as a full replay's TRUNCATE
// left it, so a stale snapshot would lose the event without an error.
const BALANCES_SQL = `
  create table public.balances (
    uuid uuid primary key,
    amount int not null
  );
  create function public.balance_opened(p_stream uuid, p_body jsonb) returns void
  language plpgsql
  set search_path = public, pg_temp
  as $$
  begin
    insert into balances (uuid, amount) values (p_stream, 0);
  end;
  $$;
  create function public.balance_deposited(p_stream uuid, p_body jsonb) returns void
  language plpgsql
  set search_path = public, pg_temp
  as $$
  begin
    update balances set amount = amount + (p_body ->> 'amount')::int where uuid = p_stream;
  end;
  $$;
`;

type Isolation = 'repeatable read' | 'serializable';

describe.skipIf(server.unavailable !== null)('appends in REPEATABLE READ and SERIALIZABLE transactions racing a replay (server)', () => {
  let t: TestStore;
  let replayer: EventStore;
  let pool: pg.Pool;

  beforeAll(async () => {
    t = await server.createStore();
    await t.store.execScript(BALANCES_SQL);
    await t.store.defineProjection({
      name: 'balances',
      handlers: { balance_opened: 'public.balance_opened', balance_deposited: 'public.balance_deposited' },
      tables: ['public.balances'],
      streamColumn: 'uuid',
    });
    [replayer] = (await openStores(t.url!, 1, 2)) as [EventStore];
    pool = createPool(t.url!, 4);
  });
  afterAll(async () => {
    await pool?.end();
    await closeAll([replayer].filter(Boolean));
    await t?.dispose();
  });

  async function openAccount(): Promise<string> {
    const stream = randomUUID();
    await t.store.append(stream, [
      { type: 'balance_opened', body: {} },
      { type: 'balance_deposited', body: { amount: 10 } },
    ]);
    return stream;
  }

  async function balance(stream: string): Promise<{ amount: number; events: number }> {
    const [row] = await t.store.query<{ amount: number; events: number }>(
      `select (select amount from public.balances where uuid = $1) as amount,
              (select count(*)::int from pgevents.events where uuid = $1) as events`,
      [stream],
    );
    return row!;
  }

  /**
   * Starts a transaction at `isolation` and takes its snapshot, runs `meanwhile` on other
   * connections, then appends a deposit in the transaction and commits. Returns the append's error.
   */
  async function depositWithSnapshotBefore(
    isolation: Isolation | 'read committed',
    stream: string,
    meanwhile: () => Promise<void>,
  ): Promise<unknown> {
    const client = await pool.connect();
    try {
      await client.query(`begin isolation level ${isolation}`);
      await client.query('select 1');
      await meanwhile();
      try {
        await t.store.append(stream, [{ type: 'balance_deposited', body: { amount: 5 } }], { client });
        await client.query('commit');
        return undefined;
      } catch (error) {
        await client.query('rollback');
        return error;
      }
    } finally {
      client.release(true);
    }
  }

  for (const isolation of ['repeatable read', 'serializable'] as const) {
    it(`fails a ${isolation} append held up by a full replay with a serialization failure instead of losing it`, async () => {
      const stream = await openAccount();
      const client = await pool.connect();
      const replay = await pool.connect();
      try {
        await client.query(`begin isolation level ${isolation}`);
        await client.query('select 1');
        await replay.query('begin');
        await replay.query(`select pgevents.replay_start('balances')`);
        const deposit = caught(() =>
          t.store.append(stream, [{ type: 'balance_deposited', body: { amount: 5 } }], { client }),
        );
        await waitForLockWaiters(pool, 1);
        await replay.query(`select * from pgevents.replay_step('balances', 0, 1000)`);
        await replay.query('commit');

        expect(await withDeadline('the append held up by the replay', deposit)).toMatchObject({ code: '40001' });
        await client.query('rollback');
      } finally {
        client.release(true);
        replay.release(true);
      }
      expect(await balance(stream)).toEqual({ amount: 10, events: 2 });
    });

    it(`fails a ${isolation} append whose snapshot predates a finished full replay, and takes its retry`, async () => {
      const stream = await openAccount();
      const error = await depositWithSnapshotBefore(isolation, stream, async () => {
        await replayer.replay('balances');
      });

      expect(error).toMatchObject({ code: '40001' });
      expect(await balance(stream)).toEqual({ amount: 10, events: 2 });
      expect(await depositWithSnapshotBefore(isolation, stream, async () => undefined)).toBeUndefined();
      expect(await balance(stream)).toEqual({ amount: 15, events: 3 });
    });
  }

  it('fails a repeatable read append whose snapshot predates a one-stream replay of its stream', async () => {
    const stream = await openAccount();
    const error = await depositWithSnapshotBefore('repeatable read', stream, async () => {
      await replayer.replay('balances', { stream });
    });

    expect(error).toMatchObject({ code: '40001' });
    expect(await balance(stream)).toEqual({ amount: 10, events: 2 });
  });

  it('applies a read committed append whose transaction began before a full replay', async () => {
    const stream = await openAccount();
    const error = await depositWithSnapshotBefore('read committed', stream, async () => {
      await replayer.replay('balances');
    });

    expect(error).toBeUndefined();
    expect(await balance(stream)).toEqual({ amount: 15, events: 3 });
  });

  it('applies a repeatable read append when no replay ran since its snapshot', async () => {
    const stream = await openAccount();
    const error = await depositWithSnapshotBefore('repeatable read', stream, async () => {
      await replayer.append(randomUUID(), [{ type: 'balance_opened', body: {} }]);
    });

    expect(error).toBeUndefined();
    expect(await balance(stream)).toEqual({ amount: 15, events: 3 });
  });

  it('keeps replays refusing to run at another isolation level than read committed', async () => {
    const client = await pool.connect();
    try {
      await client.query('begin isolation level repeatable read');
      const error = await caught(() => client.query(`select pgevents.replay_start('balances')`));
      expect(error).toMatchObject({ code: 'PE008' });
    } finally {
      client.release(true);
    }
  });
});
