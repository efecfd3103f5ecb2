import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCursor, type StoredEvent } from '../../src/index.js';
import { server, type TestStore } from '../support/engines.js';
import { createPool, waitFor } from '../support/race-helpers.js';

const WRITERS = 6;
const TRANSACTIONS_PER_WRITER = 25;

/** readAll's order: (transaction id, position). */
function compareOrder(a: { transactionId: string; position: number }, b: { transactionId: string; position: number }) {
  const [ta, tb] = [BigInt(a.transactionId), BigInt(b.transactionId)];
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.position - b.position;
}

describe.skipIf(server.unavailable !== null)('readAll while transactions commit out of position order (server)', () => {
  let t: TestStore;
  let pool: pg.Pool;

  beforeAll(async () => {
    t = await server.createStore();
    pool = createPool(t.url!, WRITERS + 1);
  });
  afterAll(async () => {
    await pool?.end();
    await t?.dispose();
  });

  it('never hands out a cursor past an event that is not yet visible, so a reader skips nothing', async () => {
    // A stream per writer: writers never wait for each other's stream locks, only for commits.
    const streams = Array.from({ length: WRITERS }, () => randomUUID());
    let commits = 0;
    let promptWritersDone = 0;

    // Even writers take their positions, then hold the transaction open until some other writer
    // has committed: later positions become visible before earlier ones, the case a reader that
    // follows positions alone would skip.
    async function write(index: number): Promise<void> {
      const client = await pool.connect();
      try {
        for (let n = 0; n < TRANSACTIONS_PER_WRITER; n += 1) {
          await client.query('begin');
          const appends = 1 + (n % 2);
          for (let k = 0; k < appends; k += 1) {
            await t.store.append(streams[index]!, [{ type: 'written', body: { index, n, k } }], { client });
          }
          if (index % 2 === 0) {
            const seen = commits;
            await waitFor('another writer to commit', async () => commits > seen || promptWritersDone === WRITERS / 2);
          }
          await client.query('commit');
          commits += 1;
        }
      } finally {
        client.release(true);
        if (index % 2 === 1) promptWritersDone += 1;
      }
    }

    const seen: StoredEvent[] = [];
    let cursor: string | undefined;
    let writing = true;
    async function read(): Promise<void> {
      for (;;) {
        const done = !writing;
        const page = await t.store.readAll({ limit: 7, ...(cursor === undefined ? {} : { after: cursor }) });
        seen.push(...page.events);
        cursor = page.cursor;
        if (done && page.events.length === 0) return;
      }
    }

    const reader = read();
    await Promise.all(Array.from({ length: WRITERS }, (_, index) => write(index)));
    writing = false;
    await reader;

    expect(new Set(seen.map((event) => event.position)).size).toBe(seen.length);
    expect(seen.every((event, i) => i === 0 || compareOrder(seen[i - 1]!, event) < 0)).toBe(true);
    // Every stored event the reader has not been given must still lie ahead of its cursor.
    const stored = await t.store.query<{ position: string; transaction_id: string }>(
      'select id::text as position, transaction_id::text from pgevents.events',
    );
    const eventsPerWriter = Array.from({ length: TRANSACTIONS_PER_WRITER }, (_, n) => 1 + (n % 2)).reduce((a, b) => a + b);
    expect(stored).toHaveLength(WRITERS * eventsPerWriter);
    const given = new Set(seen.map((event) => event.position));
    const at = cursor === undefined ? { transactionId: '0', position: 0 } : parseCursor(cursor);
    const skipped = stored
      .map((row) => ({ position: Number(row.position), transactionId: row.transaction_id }))
      .filter((event) => !given.has(event.position) && compareOrder(event, at) <= 0);
    expect(skipped).toEqual([]);
  });
});
