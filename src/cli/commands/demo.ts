import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { EventStore } from '../../index.js';
import { action } from '../action.js';
import { withStore } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import type { Output } from '../output.js';
import { formatTable } from '../output.js';
import { createProgressBar } from '../progress.js';

// examples/ sits at the package root, three levels above src/cli/commands and dist/cli/commands.
const usersExample = new URL('../../../examples/users.sql', import.meta.url);

const usersViewQuery = (schema: string) => `
  select distinct on (uuid) uuid, body ->> 'name' as name, inserted_at
    from ${schema}.events
   where type = 'user_update'
   order by uuid, id desc`;

async function usersOf(store: EventStore, streams: string[]) {
  return store.query<Record<string, unknown>>(
    `select uuid, name, inserted_at, updated_at from users where uuid = any($1::uuid[]) order by inserted_at`,
    [streams],
  );
}

function step(out: Output, text: string): void {
  out.line();
  out.line(`== ${text}`);
}

async function runDemo(store: EventStore, out: Output) {
  out.line(`pgevents demo: the seed's users example end to end (${store.engine} engine, schema ${store.schema})`);

  step(out, 'define the users projection (examples/users.sql): table, handlers, define_projection');
  await store.execScript(await readFile(usersExample, 'utf8'));
  out.line('projection users: user_create -> project_user_create, user_update -> project_user_update');

  step(out, 'append events: through the TypeScript API and as plain SQL');
  const ada = randomUUID();
  const grace = randomUUID();
  await store.append(ada, [{ type: 'user_create', body: { name: 'Ada' } }], { expectedVersion: 'no_stream' });
  await store.append(grace, [{ type: 'user_create', body: { name: 'Grace' } }], { expectedVersion: 'no_stream' });
  await store.append(ada, [{ type: 'user_update', body: { name: 'Ada Lovelace' } }], { expectedVersion: 1 });
  const plainSql = `insert into events (type, uuid, body) values ('user_update', '${grace}', '{"name": "Grace Hopper"}')`;
  await store.execScript(plainSql);
  out.line(`store.append(${ada}, user_create {"name": "Ada"}, no_stream)`);
  out.line(`store.append(${grace}, user_create {"name": "Grace"}, no_stream)`);
  out.line(`store.append(${ada}, user_update {"name": "Ada Lovelace"}, expected version 1)`);
  out.line(plainSql);
  for (const event of await store.readStream(ada)) {
    out.line(`  stream ${ada.slice(0, 8)}… version ${event.version}, position ${event.position}: ${event.type} ${JSON.stringify(event.body)}`);
  }

  step(out, 'the users table, written by the projection in the same transactions');
  const live = await usersOf(store, [ada, grace]);
  out.line(formatTable(live));

  step(out, 'replay the users projection: empty its table, re-apply every stored event');
  const bar = createProgressBar('replay users', !out.json);
  const replay = await store.replay('users', { onProgress: ({ applied, total }) => bar.update(applied, total) });
  bar.stop();
  const replayed = await usersOf(store, [ada, grace]);
  out.line(`replayed ${replay.applied} events`);
  out.line(formatTable(replayed));
  const identical = JSON.stringify(replayed) === JSON.stringify(live);
  out.line(identical ? 'same rows as before the replay' : 'DIFFERENT rows after the replay');

  step(out, 'a materialized view projection: the latest user_update per user (the seed\'s users_view)');
  const projections = await store.listProjections();
  if (!projections.some((projection) => projection.name === 'users_view')) {
    await store.defineMaterializedView({ name: 'users_view', query: usersViewQuery(store.schema), uniqueColumns: ['uuid'] });
  }
  const concurrently = await store.refreshMaterializedView('users_view');
  out.line(`refreshed users_view${concurrently ? ' concurrently' : ''}`);
  const view = await store.query(`select uuid, name, inserted_at from users_view where uuid = any($1::uuid[]) order by name`, [
    [ada, grace],
  ]);
  out.line(formatTable(view));

  step(out, "the seed's mix-up: an update_user event that no projection handles");
  await store.append(grace, [{ type: 'update_user', body: { name: 'Amazing Grace' } }]);
  const status = await store.status();
  out.line(`status: ${status.events} events in ${status.streams} streams; no projection handles: ${status.unhandledTypes.join(', ')}`);
  out.line();
  out.line('next: `pgevents status`, `pgevents read <stream>`, `pgevents replay users`, or run your own SQL with `pgevents exec file.sql`');

  return { streams: { ada, grace }, live, replayed, identical, replayedEvents: replay.applied, view, unhandledTypes: status.unhandledTypes };
}

export function defineDemo(program: Command): void {
  program
    .command('demo')
    .description("run the seed's users example end to end (embedded engine by default)")
    .action(
      action(async (context) => {
        const result = await withStore(context, (store) => runDemo(store, context.out));
        context.out.result(result, () => undefined);
        return result.identical ? ExitCode.ok : ExitCode.failed;
      }),
    );
}
