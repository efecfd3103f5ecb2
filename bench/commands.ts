/**
 * What `store.handle` and snapshots cost (issue 14), alone: see bench/lib/commands.ts. `npm run
 * bench` runs the same measurement (unless --no-commands). One throwaway database on the server.
 *
 *   node --import tsx bench/commands.ts [--seconds 5] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openEventStore } from '../src/index.js';
import { commandSummary, measureCommands } from './lib/commands.js';
import { benchDatabaseName, databaseUrl, ignoreIdleErrors, serverUrl, withClient } from './lib/db.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, rounds: { type: 'string', default: '3' } } });
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

const database = benchDatabaseName(`commands_${process.pid}`);
await withClient(serverUrl(), (client) => client.query(`create database ${database}`));
const pool = ignoreIdleErrors(new pg.Pool({ connectionString: databaseUrl(database), max: 8 }));
const store = await openEventStore({ pool });
try {
  await store.migrate();
  console.log(`store.handle vs store.append, one event per command, ${seconds} s per measurement, ${rounds} rounds`);
  const measured = await measureCommands(store, { seconds, rounds }, (line) => console.log(line));
  console.log('');
  for (const line of commandSummary(measured)) console.log(line);
} finally {
  await store.close();
  await pool.end();
  await withClient(serverUrl(), (client) => client.query(`drop database ${database} with (force)`));
}
