/**
 * What a listening subscription costs concurrent appenders: eight connections append one event per
 * transaction (append_events) for a few seconds with nobody listening, then with one subscription
 * live (LISTEN, wake-ups), in alternating rounds on one throwaway database of the server.
 *
 *   node --import tsx bench/listening.ts [--rounds 6] [--seconds 5] [--connections 8]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openEventStore } from '../src/index.js';
import { benchDatabaseName, databaseUrl, ignoreIdleErrors, serverUrl, withClient } from './lib/db.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '6' }, seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '8' } },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const connections = Number(values.connections);

/** Appends/s of `connections` connections appending one event per transaction for `seconds`. */
async function appendRate(url: string): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = ignoreIdleErrors(new pg.Client({ connectionString: url }));
      await client.connect();
      return client;
    }),
  );
  let appended = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    clients.map(async (client) => {
      while (Date.now() < end) {
        await client.query(`select * from pgevents.append_events($1::uuid, '[{"type": "bench_listening", "body": {}}]'::jsonb)`, [randomUUID()]);
        appended += 1;
      }
    }),
  );
  await Promise.all(clients.map((client) => client.end()));
  return appended / seconds;
}

/** Counts the notifications appends send, on a session that LISTENs without registering as a listener. */
async function countNotifications(url: string): Promise<{ stop(): Promise<number> }> {
  const client = ignoreIdleErrors(new pg.Client({ connectionString: url }));
  await client.connect();
  let count = 0;
  client.on('notification', () => void (count += 1));
  await client.query('listen pgevents_pgevents');
  return {
    async stop() {
      await client.end();
      return count;
    },
  };
}

/** The append rate while one subscription listens, and what it did meanwhile. */
async function listeningRate(round: number): Promise<{ rate: number; delivered: number; batches: number; notified: number }> {
  let delivered = 0;
  let batches = 0;
  const subscription = await store.subscribe({
    name: `listening_${round}`,
    from: 'end',
    handler: (events) => {
      delivered += events.length;
      batches += 1;
    },
  });
  await subscription.caughtUp();
  const notifications = await countNotifications(url);
  const rate = await appendRate(url);
  await subscription.caughtUp();
  await subscription.stop();
  const notified = await notifications.stop();
  return { rate, delivered, batches, notified };
}

const database = benchDatabaseName(`listening_${process.pid}`);
await withClient(serverUrl(), (client) => client.query(`create database ${database}`));
const url = databaseUrl(database);
const store = await openEventStore({ url, migrate: true });
try {
  console.log(`${connections} connections, one event per transaction, ${seconds} s each`);
  const ratios: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Alternate which comes first, so that a store growing through the run favours neither.
    const quietFirst = round % 2 === 1;
    const quiet1 = quietFirst ? await appendRate(url) : 0;
    const live = await listeningRate(round);
    const quiet = quietFirst ? quiet1 : await appendRate(url);
    ratios.push(live.rate / quiet);
    console.log(
      `round ${round}: nobody listening ${quiet.toFixed(0)} appends/s; one subscription live ${live.rate.toFixed(0)} appends/s ` +
        `(${(live.rate / quiet).toFixed(2)}×); it delivered ${live.delivered} events in ${live.batches} batches; appends notified ${live.notified} times`,
    );
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  console.log(`with a subscription live / without: median ${median.toFixed(2)}×, ${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)}× over ${rounds} rounds`);
} finally {
  await store.close();
  await withClient(serverUrl(), (client) => client.query(`drop database ${database} with (force)`));
}
