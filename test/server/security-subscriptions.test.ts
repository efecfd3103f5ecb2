import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, openEventStore, type Subscription, SubscriptionFailedError } from '../../src/index.js';
import { rejectionOf, usersHandlers, usersReadModelSql } from '../contract/fixtures.js';
import { isolatedServer, recorder, runCli, settled, waitFor } from '../contract/subscriptions.contract.js';
import { dropServerDatabase } from '../support/engines.js';
import {
  cleanUp,
  connectAs,
  createDatabaseOwnedBy,
  createLoginRoles,
  dropRoles,
  privilegesOf,
  sqlStateOf,
  uniqueRoleName,
  urlAs,
} from '../support/roles.js';
import { adminUrl as serverAdminUrl, databaseUrl } from '../support/server-url.js';
import { startThrowawayCluster, type ThrowawayCluster, throwawayClusterUnavailable } from '../support/throwaway-cluster.js';

const SCHEMA = 'pgevents';

/**
 * A store installed by a plain owner role, with the roles docs/security.md sets up: an application
 * (writer + subscriber), a second application (subscriber only), an operator and a reader, granted
 * with `pgevents grant`; and a login role that is a member of the application role.
 */
interface Setup {
  url: string;
  owner: EventStore;
  roles: { owner: string; app: string; rival: string; ops: string; reader: string; member: string };
  dispose(): Promise<void>;
}

/** On a cluster of its own when PostgreSQL's binaries are here: delivery must not wait for other suites' transactions. */
async function setUp(): Promise<Setup> {
  const cluster: ThrowawayCluster | undefined = throwawayClusterUnavailable() === null ? await startThrowawayCluster({ fsync: 'off' }) : undefined;
  const adminUrl = cluster?.url();
  const roles = {
    owner: uniqueRoleName('owner'),
    app: uniqueRoleName('subscriber'),
    rival: uniqueRoleName('subscriber'),
    ops: uniqueRoleName('operator'),
    reader: uniqueRoleName('reader'),
    member: uniqueRoleName('other'),
  };
  let database: string | undefined;
  let owner: EventStore | undefined;
  const dispose = () =>
    cleanUp(
      () => owner?.close(),
      () => (cluster ? cluster.destroy() : database && dropServerDatabase(database)),
      () => !cluster && dropRoles([roles.member, roles.app, roles.rival, roles.ops, roles.reader, roles.owner]),
    );
  try {
    await createLoginRoles([roles.owner, roles.app, roles.rival, roles.ops, roles.reader, roles.member], adminUrl);
    // The application role is the group of its instances' login roles.
    const admin = new pg.Client({ connectionString: adminUrl ?? serverAdminUrl() });
    await admin.connect();
    try {
      await admin.query(`grant ${pg.escapeIdentifier(roles.app)} to ${pg.escapeIdentifier(roles.member)}`);
    } finally {
      await admin.end();
    }
    database = await createDatabaseOwnedBy(roles.owner, adminUrl);
    const url = cluster ? cluster.url(database) : databaseUrl(database);
    owner = await openEventStore({ url: urlAs(url, roles.owner), migrate: true });
    // The application owns its tables.
    await owner.execScript(`
      grant create on schema public to ${pg.escapeIdentifier(roles.app)};
      ${usersReadModelSql(SCHEMA)}`);
    await owner.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
    const granted = await runCli([
      '--database-url',
      urlAs(url, roles.owner),
      '--json',
      'grant',
      '--writer',
      roles.app,
      '--subscriber',
      roles.app,
      '--subscriber',
      roles.rival,
      '--operator',
      roles.ops,
      '--reader',
      roles.reader,
    ]);
    expect(granted.exitCode, granted.stderr).toBe(0);
    expect(JSON.parse(granted.stdout)).toEqual({
      writers: [roles.app],
      readers: [roles.reader],
      subscribers: [roles.app, roles.rival],
      operators: [roles.ops],
    });
    return { url, owner, roles, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

describe.skipIf(isolatedServer.unavailable !== null)('security: subscribers, operators and readers of subscriptions (server)', () => {
  let s: Setup;
  const stores: Record<'app' | 'rival' | 'ops' | 'reader' | 'member', EventStore | undefined> = {
    app: undefined,
    rival: undefined,
    ops: undefined,
    reader: undefined,
    member: undefined,
  };
  const clients: pg.Client[] = [];
  const running: Subscription[] = [];
  let appClient: pg.Client;
  let readerClient: pg.Client;
  let opsClient: pg.Client;

  const as = (role: keyof typeof stores): EventStore => stores[role]!;
  const checkpoints = async () =>
    Object.fromEntries(
      (await s.owner.query<{ name: string; checkpoint: string }>(
        `select name, transaction_id::text || '-' || "position"::text as checkpoint from ${SCHEMA}.subscriptions order by name`,
      )).map((row) => [row.name, row.checkpoint]),
    );
  const subscribeAs = async (role: keyof typeof stores, ...args: Parameters<EventStore['subscribe']>) => {
    const subscription = await as(role).subscribe(...args);
    running.push(subscription);
    return subscription;
  };

  beforeAll(async () => {
    s = await setUp();
    for (const role of Object.keys(stores) as (keyof typeof stores)[]) {
      stores[role] = await openEventStore({ url: urlAs(s.url, s.roles[role]), poolSize: 2 });
    }
    for (const role of [s.roles.app, s.roles.reader, s.roles.ops]) clients.push(await connectAs(s.url, role));
    [appClient, readerClient, opsClient] = clients as [pg.Client, pg.Client, pg.Client];

    await as('app').append(randomUUID(), [{ type: 'user_create', body: { name: 'Ada' } }]);
    // The owner's subscription, another application's, and one from before subscriptions had owners.
    await s.owner.query(`select 1 from ${SCHEMA}.create_subscription('owners-mailer', 'start')`);
    await s.owner.query(`select 1 from ${SCHEMA}.create_subscription('legacy-mailer', 'start')`);
    await s.owner.query(`update ${SCHEMA}.subscriptions set owner = null where name = 'legacy-mailer'`);
    const rival = await subscribeAs('rival', { name: 'rival-mailer', handler: () => undefined });
    await rival.caughtUp();
    await rival.stop();
  });
  afterAll(async () => {
    await cleanUp(
      () => Promise.all(running.map((subscription) => subscription.stop())),
      () => Promise.all(clients.map((client) => client.end())),
      () => Promise.all(Object.values(stores).map((store) => store?.close())),
      () => s?.dispose(),
    );
  });

  it('records each kind of access of each role', async () => {
    const rows = await s.owner.query<{ role_name: string; access: string }>(`select role_name::text, access from ${SCHEMA}.roles`);
    const recorded = rows.map((row) => `${row.role_name} ${row.access}`).sort();
    expect(recorded).toEqual(
      [`${s.roles.app} writer`, `${s.roles.app} subscriber`, `${s.roles.rival} subscriber`, `${s.roles.ops} operator`, `${s.roles.reader} reader`].sort(),
    );
  });

  it('grants the subscriber and the operator exactly their privileges, besides what every role reads', async () => {
    const query = (sql: string, params?: unknown[]) => s.owner.query(sql, params);
    const reader = await privilegesOf(query, s.roles.reader, SCHEMA);
    const subscriber = await privilegesOf(query, s.roles.rival, SCHEMA);
    const operator = await privilegesOf(query, s.roles.ops, SCHEMA);
    expect(subscriber.relations).toEqual(reader.relations);
    expect(operator.relations).toEqual(reader.relations);
    expect(subscriber.columns).toEqual(
      [
        ...['checkpoint_at', 'kind', 'name', 'position', 'tables', 'transaction_id', 'types'].map((column) => `subscriptions.${column}: insert`),
        ...[
          'attempts',
          'checkpoint_at',
          'error_position',
          'error_transaction_id',
          'last_error',
          'position',
          'runner',
          'state',
          'tables',
          'transaction_id',
          'types',
          'updated_at',
        ].map((column) => `subscriptions.${column}: update`),
      ].sort(),
    );
    expect(operator.columns).toEqual(
      [
        'attempts',
        'checkpoint_at',
        'error_position',
        'error_transaction_id',
        'last_error',
        'position',
        'reset_at',
        'state',
        'transaction_id',
        'updated_at',
      ]
        .map((column) => `subscriptions.${column}: update`)
        .sort(),
    );
    const more = (privileges: typeof reader) => privileges.functions.filter((fn) => !reader.functions.includes(fn));
    expect(more(subscriber)).toEqual(
      [
        'check_subscription_manager(text,name)',
        'check_subscription_name(text)',
        'create_subscription(text,text,text[])',
        'define_async_projection(text,text[],text[])',
        'raise_unknown_subscription(text)',
        'record_subscription_failure(text,xid8,bigint,xid8,bigint,text,integer)',
        'events_writers_active()',
        'register_listener(uuid)',
        'save_subscription_checkpoint(text,xid8,bigint,xid8,bigint)',
        'start_subscription_run(text,text)',
        'stop_subscription_run(text)',
        'set_listener_awake(uuid,boolean)',
        'unregister_listener(uuid)',
      ].sort(),
    );
    expect(more(operator)).toEqual(
      [
        'archive_stream(uuid,text)',
        'unarchive_stream(uuid,text)',
        'raise_unknown_subscription(text)',
        'reset_subscription(text,text)',
        'resume_subscription(text)',
        'skip_subscription_event(text)',
        'subscription_run_state(text)',
      ].sort(),
    );
  });

  it('lets the subscriber run a subscription, an async projection and a follower under its own name, listening for appends', async () => {
    const seen = recorder();
    const mailer = await subscribeAs('app', { name: 'app-mailer', types: ['user_create'], handler: seen.handler });
    await mailer.caughtUp();
    expect(await s.owner.query(`select count(*)::int as n from ${SCHEMA}.listeners`)).toEqual([{ n: 1 }]);
    const stream = randomUUID();
    await as('app').append(stream, [{ type: 'user_create', body: { name: 'Grace' } }]);
    await waitFor(() => seen.events.some((event) => event.stream === stream), 'the live event');

    await as('app').execScript('create table public.app_names (uuid uuid primary key, name text not null)');
    const names = await as('app').startAsyncProjection({
      name: 'app_names',
      tables: ['public.app_names'],
      handlers: {
        user_create: async (event, tx) => {
          await tx.query('insert into public.app_names (uuid, name) values ($1, $2)', [event.stream, event.body.name]);
        },
      },
    });
    running.push(names);
    await names.caughtUp();
    expect(await as('app').query('select name from public.app_names where uuid = $1', [stream])).toEqual([{ name: 'Grace' }]);

    const followed = recorder();
    const follower = await as('app').follow({ from: 'start', types: ['user_create'], handler: followed.handler });
    await follower.caughtUp();
    await follower.stop();
    expect(followed.events.map((event) => event.stream)).toContain(stream);

    const owners = await s.owner.query<{ name: string; owner: string }>(
      `select name, owner::text from ${SCHEMA}.subscription_status where name in ('app-mailer', 'app_names') order by name`,
    );
    expect(owners).toEqual([
      { name: 'app-mailer', owner: s.roles.app },
      { name: 'app_names', owner: s.roles.app },
    ]);
    await mailer.stop();
    expect(await s.owner.query(`select count(*)::int as n from ${SCHEMA}.listeners`)).toEqual([{ n: 1 }]);
  });

  it("refuses the subscriber another role's subscription: the owner's, another subscriber's, and one from before owners", async () => {
    await settled(s.owner);
    await running.find((subscription) => subscription.name === 'app_names')!.caughtUp();
    const before = await checkpoints();
    for (const name of ['owners-mailer', 'rival-mailer', 'legacy-mailer']) {
      const refused = await rejectionOf(as('app').subscribe({ name, handler: () => undefined }));
      expect(refused, name).toMatchObject({ code: '42501' });
      expect((refused as Error).message).toContain(name);
      const [checkpoint] = before[name]!.split('-');
      const [saved] = (
        await appClient.query(`select ${SCHEMA}.save_subscription_checkpoint($1, $2::xid8, $3, $4::xid8, $5) as saved`, [
          name,
          checkpoint,
          Number(before[name]!.split('-')[1]),
          '999999',
          999999,
        ])
      ).rows;
      expect(saved, name).toEqual({ saved: false });
      const updated = await appClient.query(`update ${SCHEMA}.subscriptions set "position" = 424242, state = 'stopped' where name = $1`, [name]);
      expect(updated.rowCount, name).toBe(0);
      expect(await sqlStateOf(appClient, `select ${SCHEMA}.start_subscription_run($1, 'forged')`, [name])).toBe('42501');
      expect(
        await sqlStateOf(appClient, `select * from ${SCHEMA}.record_subscription_failure($1, '0', 0, '1', 1, 'forged', 1)`, [name]),
      ).toBeNull();
    }
    const projection = await rejectionOf(
      as('rival').startAsyncProjection({ name: 'app_names', tables: [], handlers: { user_create: () => undefined } }),
    );
    expect(projection).toMatchObject({ code: '42501' });
    expect(await checkpoints()).toEqual(before);
  });

  it('refuses the subscriber resets, skips and resumes, through the API, the functions and plain SQL on its own subscriptions', async () => {
    const poisoned = await subscribeAs('app', {
      name: 'app-poisoned',
      from: 'end',
      retry: { maxAttempts: 1 },
      handler: (events) => {
        if (events.some((event) => event.type === 'poison')) throw new Error('cannot digest');
      },
    });
    await as('app').append(randomUUID(), [{ type: 'poison', body: {} }]);
    await expect(poisoned.caughtUp()).rejects.toBeInstanceOf(SubscriptionFailedError);
    // The async projection moves its checkpoint past the poison (not one of its types) meanwhile.
    await running.find((subscription) => subscription.name === 'app_names')!.caughtUp();
    const before = await checkpoints();

    for (const call of [
      () => as('app').resetSubscription('app-poisoned'),
      () => as('app').skipSubscriptionEvent('app-poisoned'),
      () => as('app').resumeSubscription('app-poisoned'),
      () => poisoned.skip(),
      () => poisoned.resume(),
      () => as('app').replay('app_names'),
      () => as('app').replay('users'),
    ]) {
      expect(await rejectionOf(call())).toMatchObject({ code: '42501' });
    }
    for (const sql of [
      `update ${SCHEMA}.subscriptions set state = 'running', attempts = 0 where name = 'app-poisoned'`,
      `update ${SCHEMA}.subscriptions set "position" = "position" + 1 where name = 'app-poisoned'`,
      `update ${SCHEMA}.subscriptions set transaction_id = '0', "position" = 0 where name = 'app-mailer'`,
      `update ${SCHEMA}.subscriptions set owner = '${s.roles.rival}' where name = 'app-mailer'`,
      `update ${SCHEMA}.subscriptions set kind = 'projection' where name = 'app-mailer'`,
      `insert into ${SCHEMA}.subscriptions (name, owner) values ('forged', '${s.roles.rival}')`,
      `delete from ${SCHEMA}.subscriptions where name = 'app-mailer'`,
      `select ${SCHEMA}.reset_subscription('app-mailer')`,
      `select ${SCHEMA}.define_projection('forged', '{"user_create": "public.project_user_create"}')`,
      `select ${SCHEMA}.rebuild_start('users')`,
      `select ${SCHEMA}.grant_operator(current_user)`,
      `insert into ${SCHEMA}.roles (role_name, access) values (current_user, 'operator')`,
      `delete from ${SCHEMA}.listeners`,
    ]) {
      expect(await sqlStateOf(appClient, sql), sql).toBe('42501');
    }
    expect(await checkpoints()).toEqual(before);
    expect((await as('app').listSubscriptions()).find((info) => info.name === 'app-poisoned')).toMatchObject({ state: 'failed' });
  });

  it("refuses the subscriber a table it could not empty itself, or the store's, for an async projection", async () => {
    const handlers = { user_create: () => undefined };
    expect(await rejectionOf(as('app').startAsyncProjection({ name: 'steals_users', tables: ['public.users'], handlers }))).toMatchObject({
      code: '42501',
    });
    expect(
      await rejectionOf(as('app').startAsyncProjection({ name: 'steals_streams', tables: [`${SCHEMA}.streams`], handlers })),
    ).toMatchObject({ code: 'INVALID_PROJECTION' });
    const names = (await s.owner.listSubscriptions()).map((info) => info.name);
    expect(names).not.toContain('steals_users');
    expect(names).not.toContain('steals_streams');
  });

  it("lets a member of the application role run the application's subscriptions", async () => {
    const seen = recorder();
    const mailer = await subscribeAs('member', { name: 'app-mailer', types: ['user_create'], handler: seen.handler });
    const stream = randomUUID();
    await as('member').append(stream, [{ type: 'user_create', body: { name: 'Barbara' } }]);
    await waitFor(() => seen.events.some((event) => event.stream === stream), 'the member to deliver');
    await mailer.stop();
    expect(await rejectionOf(as('member').subscribe({ name: 'rival-mailer', handler: () => undefined }))).toMatchObject({ code: '42501' });
  });

  it('lets the operator reset, skip and resume any subscription, and the running one goes on', async () => {
    const poisoned = running.find((subscription) => subscription.name === 'app-poisoned')!;
    await as('ops').skipSubscriptionEvent('app-poisoned');
    await poisoned.caughtUp();
    expect(poisoned.state).toBe('live');

    for (const name of ['owners-mailer', 'rival-mailer', 'legacy-mailer', 'app-mailer']) {
      expect((await as('ops').resetSubscription(name, { to: 'end' })).name).toBe(name);
      expect((await as('ops').resetSubscription(name)).checkpoint).toBe('0-0');
    }
    await opsClient.query(
      `update ${SCHEMA}.subscriptions set state = 'failed', attempts = 5, error_transaction_id = '1', error_position = 1 where name = 'rival-mailer'`,
    );
    expect((await as('ops').resumeSubscription('rival-mailer')).state).toBe('stopped');

    // Emptying an application's tables takes the application's consent.
    expect(await rejectionOf(as('ops').replay('app_names'))).toMatchObject({ code: '42501' });
    await as('app').execScript(`grant truncate on public.app_names to ${pg.escapeIdentifier(s.roles.ops)}`);
    expect(await as('ops').replay('app_names')).toEqual({ projection: 'app_names', applied: 0, deferred: true });
    const names = running.find((subscription) => subscription.name === 'app_names')!;
    await names.caughtUp();
    expect(await as('app').query('select count(*)::int as n from public.app_names')).toEqual([{ n: 3 }]);
  });

  it('refuses the operator what it is not: running subscriptions, appending, and what the owner does to projections', async () => {
    expect(await rejectionOf(as('ops').subscribe({ name: 'ops-mailer', handler: () => undefined }))).toMatchObject({ code: '42501' });
    for (const call of [
      () => as('ops').append(randomUUID(), [{ type: 'user_create', body: { name: 'Eve' } }]),
      () => as('ops').replay('users'),
      () => as('ops').rebuild('users'),
      () => as('ops').verify('users'),
      () => as('ops').defineProjection({ name: 'forged', handlers: usersHandlers, tables: ['public.users'] }),
      () => as('ops').grant({ operators: [s.roles.app] }),
    ]) {
      expect(await rejectionOf(call())).toMatchObject({ code: '42501' });
    }
    expect(await sqlStateOf(opsClient, `select ${SCHEMA}.register_listener(gen_random_uuid())`)).toBe('42501');
    expect(await sqlStateOf(opsClient, `delete from ${SCHEMA}.subscriptions`)).toBe('42501');
  });

  it('lets the reader read the status of subscriptions and rebuilds, and change nothing', async () => {
    await s.owner.rebuild('users');
    const shape = (infos: Awaited<ReturnType<EventStore['listSubscriptions']>>) =>
      infos.map((info) => ({ name: info.name, kind: info.kind, checkpoint: info.checkpoint, types: info.types }));
    expect(shape(await as('reader').listSubscriptions())).toEqual(shape(await s.owner.listSubscriptions()));
    expect((await as('reader').status()).subscriptions.map((info) => info.name)).toEqual(
      (await s.owner.listSubscriptions()).map((info) => info.name),
    );
    const progress = await as('reader').rebuildProgress();
    expect(progress).toEqual(await s.owner.rebuildProgress());
    expect(progress.map((row) => [row.projection, row.phase])).toEqual([['users', 'done']]);

    const before = await checkpoints();
    expect(await rejectionOf(as('reader').subscribe({ name: 'reader-mailer', handler: () => undefined }))).toMatchObject({ code: '42501' });
    expect(await rejectionOf(as('reader').resetSubscription('app-mailer'))).toMatchObject({ code: '42501' });
    for (const sql of [
      `update ${SCHEMA}.subscriptions set "position" = 0`,
      `insert into ${SCHEMA}.subscriptions (name) values ('forged')`,
      `select ${SCHEMA}.save_subscription_checkpoint('app-mailer', '0', 0, '1', 1)`,
      `select ${SCHEMA}.register_listener(gen_random_uuid())`,
      `select ${SCHEMA}.skip_subscription_event('app-mailer')`,
      `select ${SCHEMA}.rebuild_start('users')`,
    ]) {
      expect(await sqlStateOf(readerClient, sql), sql).toBe('42501');
    }
    expect(await checkpoints()).toEqual(before);
  });

  it('runs `pgevents tail` as the subscriber, `subscriptions` as the reader, and `subscriptions reset` only as the operator', async () => {
    const cli = (role: string, ...args: string[]) => runCli(['--database-url', urlAs(s.url, role), ...args]);
    const tail = await cli(s.roles.app, '--json', 'tail', '--from', 'start', '--type', 'user_create', '--limit', '2');
    expect(tail.exitCode, tail.stderr).toBe(0);
    expect(tail.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { type: string }).type)).toEqual(['user_create', 'user_create']);

    const listed = await cli(s.roles.reader, '--json', 'subscriptions');
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('rival-mailer');

    const refused = await cli(s.roles.app, 'subscriptions', 'reset', 'app-mailer');
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('permission denied');
    const reset = await cli(s.roles.ops, '--json', 'subscriptions', 'reset', 'app-mailer', '--to', 'end');
    expect(reset.exitCode, reset.stderr).toBe(0);
  });
});
