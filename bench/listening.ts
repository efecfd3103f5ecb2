/**
 * What a listening subscription costs concurrent appenders: eight connections append one event per
 * transaction (append_events) for a few seconds with nobody listening, then with one subscription
 * live (LISTEN, wake-ups), in alternating rounds on one throwaway database of the server.
 *
 *   node --import tsx bench/listening.ts [--rounds 3] [--seconds 5] [--connections 8]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openEventStore } from '../src/index.js';
import { benchDatabaseName, databaseUrl, ignoreIdleErrors, serverUrl, withClient } from './lib/db.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '8' } },
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

const database = benchDatabaseName(`listening_${process.pid}`);
await withClient(serverUrl(), (client) => client.query(`create database ${database}`));
const url = databaseUrl(database);
const store = await openEventStore({ url, migrate: true });
try {
  console.log(`${connections} connections, one event per transaction, ${seconds} s each`);
  const ratios: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    const quiet = await appendRate(url);
    let delivered = 0;
    const subscription = await store.subscribe({ name: `listening_${round}`, from: 'end', handler: (events) => void (delivered += events.length) });
    await subscription.caughtUp();
    const live = await appendRate(url);
    await subscription.caughtUp();
    await subscription.stop();
    ratios.push(live / quiet);
    console.log(
      `round ${round}: nobody listening ${quiet.toFixed(0)} appends/s; one subscription live ${live.toFixed(0)} appends/s ` +
        `(${(live / quiet).toFixed(2)}×); it delivered ${delivered} events`,
    );
  }
  console.log(`with a subscription live / without: ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×`);
} finally {
  await store.close();
  await withClient(serverUrl(), (client) => client.query(`drop database ${database} with (force)`));
}
