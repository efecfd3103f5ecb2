/**
 * What `store.handle` costs: commands per second, each folding its stream (10 events: a create and
 * updates), deciding and appending one event with the folded version as the expected version,
 * sequentially and from 8 concurrent callers on their own streams, against `store.append` of the
 * same event with no fold. Plus the fold alone of a 1,000-event stream. Server, TypeScript API,
 * one throwaway database.
 *
 *   node --import tsx bench/commands.ts [--seconds 5] [--rounds 3]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { type CommandHandler, type EventStore, openEventStore } from '../src/index.js';
import { benchDatabaseName, databaseUrl, ignoreIdleErrors, serverUrl, withClient } from './lib/db.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

type UserEvent = { type: 'user_create'; body: { name: string } } | { type: 'user_update'; body: { name: string } };
type User = { name: string | null; renames: number };
const users: CommandHandler<User, UserEvent, { name: string }> = {
  initial: () => ({ name: null, renames: 0 }),
  evolve: (state, event) => ({ name: event.body.name, renames: event.type === 'user_update' ? state.renames + 1 : state.renames }),
  decide: (command, state) =>
    state.name === null ? [{ type: 'user_create', body: { name: command.name } }] : [{ type: 'user_update', body: { name: command.name } }],
};

/** Calls per second of `call` from `callers` concurrent callers, each on streams of 10 events of its own. */
async function rate(callers: number, call: (stream: string, n: number) => Promise<unknown>): Promise<number> {
  let done = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      let stream = randomUUID();
      for (let n = 0; Date.now() < end; n++) {
        if (n % 10 === 0) stream = randomUUID();
        await call(stream, n);
        done += 1;
      }
    }),
  );
  return done / seconds;
}

async function measure(store: EventStore): Promise<void> {
  const handle = (stream: string, n: number) => store.handle(stream, users, { name: `user ${n}` });
  const append = (stream: string, n: number) =>
    store.append(stream, [{ type: n % 10 === 0 ? 'user_create' : 'user_update', body: { name: `user ${n}` } }]);
  for (const callers of [1, 8]) {
    const ratios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const handled = await rate(callers, handle);
      const appended = await rate(callers, append);
      ratios.push(handled / appended);
      console.log(
        `${callers === 1 ? 'sequential' : `${callers} callers`}, round ${round}: store.handle ${handled.toFixed(0)} commands/s, ` +
          `store.append ${appended.toFixed(0)} appends/s (${(handled / appended).toFixed(2)}×)`,
      );
    }
    console.log(`${callers === 1 ? 'sequential' : `${callers} callers`}: handle / append ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×`);
  }
  const long = randomUUID();
  for (let batch = 0; batch < 10; batch++) {
    await store.append(long, Array.from({ length: 100 }, (_, n) => ({ type: batch + n === 0 ? 'user_create' : 'user_update', body: { name: `user ${n}` } })));
  }
  for (let i = 0; i < 20; i++) await store.aggregate(long, users);
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const started = performance.now();
    await store.aggregate(long, users);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  console.log(`fold of a 1,000-event stream: p50 ${times[100]!.toFixed(2)} ms, p99 ${times[198]!.toFixed(2)} ms (200 folds)`);
}

const database = benchDatabaseName(`commands_${process.pid}`);
await withClient(serverUrl(), (client) => client.query(`create database ${database}`));
const pool = ignoreIdleErrors(new pg.Pool({ connectionString: databaseUrl(database), max: 8 }));
const store = await openEventStore({ pool });
try {
  await store.migrate();
  console.log(`store.handle vs store.append, one event per command, ${seconds} s per measurement, ${rounds} rounds`);
  await measure(store);
} finally {
  await store.close();
  await pool.end();
  await withClient(serverUrl(), (client) => client.query(`drop database ${database} with (force)`));
}
