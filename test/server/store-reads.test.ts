import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventStore, openEventStore, type StoredEvent } from '../../src/index.js';
import { READ_ALL_TEST_TIMEOUT_MS, readAllWhenVisible, rejectionOf, usersHandlers, usersReadModelSql, waitFor } from '../contract/fixtures.js';
import storeReadsContract, { cursorOf } from '../contract/store-reads.contract.js';
import { server, type TestStore } from '../support/engines.js';
import { cleanUp, createLoginRoles, dropRoles, uniqueRoleName, urlAs } from '../support/roles.js';

storeReadsContract(server);

describe.skipIf(server.unavailable !== null)('store reads while a transaction is open (server)', { timeout: READ_ALL_TEST_TIMEOUT_MS }, () => {
  let t: TestStore;
  let held: pg.Client;

  beforeAll(async () => {
    t = await server.createStore();
    held = new pg.Client({ connectionString: t.url });
    held.on('error', () => undefined);
    await held.connect();
  });
  afterAll(async () => {
    await held?.end().catch(() => undefined);
    await t?.dispose();
  });

  it('holds back an open transaction and everything committed after it began, from readAllBackward and heldBackEvents, until it ends', async () => {
    const schema = t.store.schema;
    const before = (await t.store.append(randomUUID(), [{ type: 'before', body: {} }])).events[0]!;
    const [first] = await readAllWhenVisible(t.store, 1);
    expect((await t.store.readAllBackward()).events).toEqual([first]);

    await held.query('begin');
    // The transaction id is taken now: every append below commits in a later transaction.
    await held.query('select pg_current_xact_id()');
    const later = (await t.store.append(randomUUID(), [{ type: 'later', body: {} }, { type: 'later', body: {} }])).events;
    const last = (await t.store.append(randomUUID(), [{ type: 'last', body: {} }])).events[0]!;
    // Its own event comes last by position, but first by transaction.
    const { rows } = await held.query<{ position: string }>(`select "position"::text from ${schema}.append_events($1::uuid, $2::jsonb)`, [
      randomUUID(),
      JSON.stringify([{ type: 'held', body: {} }]),
    ]);
    const heldPosition = Number(rows[0]!.position);
    expect(heldPosition).toBeGreaterThan(last.position);

    expect(await t.store.readAllBackward()).toEqual({ events: [first], cursor: cursorOf(first!) });
    expect((await t.store.readAll({ after: cursorOf(first!) })).events).toEqual([]);
    expect(await t.store.heldBackEvents()).toBe(3);
    expect(await t.store.heldBackEvents({ max: 2 })).toBe(2);
    // Read directly, committed events are there, and the open transaction's is not.
    expect(await t.store.readEvent(later[1]!.position)).toMatchObject({ type: 'later', position: later[1]!.position });
    expect(await t.store.readEvent(heldPosition)).toBeNull();
    // Before a cursor, everything before it: also what readAll still holds back.
    const lastEvent = (await t.store.readEvent(last.position))!;
    expect((await t.store.readAllBackward({ before: cursorOf(lastEvent) })).events.map((event) => event.position)).toEqual([
      later[1]!.position,
      later[0]!.position,
      before.position,
    ]);

    await held.query('commit');
    const all = await waitFor(async () => {
      const page = await t.store.readAllBackward();
      return page.events.length === 5 ? page.events : undefined;
    }, 'the held-back events');
    expect(all.map((event) => event.type)).toEqual(['last', 'later', 'later', 'held', 'before']);
    expect(all.map((event) => event.position)).toEqual([last.position, later[1]!.position, later[0]!.position, heldPosition, before.position]);
    expect(all).toEqual((await readAllWhenVisible(t.store, 5)).reverse());
  });
});

describe.skipIf(server.unavailable !== null)('store reads as reader and writer roles (server)', { timeout: READ_ALL_TEST_TIMEOUT_MS }, () => {
  let t: TestStore;
  const roles = { reader: '', writer: '', other: '' };
  const stores: Record<keyof typeof roles, EventStore | undefined> = { reader: undefined, writer: undefined, other: undefined };
  let events: StoredEvent[];

  function as(role: keyof typeof roles): EventStore {
    return stores[role]!;
  }

  beforeAll(async () => {
    t = await server.createStore();
    roles.reader = uniqueRoleName('reader');
    roles.writer = uniqueRoleName('writer');
    roles.other = uniqueRoleName('other');
    await createLoginRoles(Object.values(roles));
    const schema = t.store.schema;
    await t.store.execScript(`
      ${usersReadModelSql(schema)}
      create table public.secrets (position bigint primary key, body jsonb not null);
      create function public.keep_secret(e ${schema}.events) returns void
      language plpgsql set search_path = public, pg_temp
      as $$ begin insert into secrets values (e.id, e.body); end; $$;`);
    await t.store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
    await t.store.defineProjection({ name: 'secrets', handlers: { user_create: 'public.keep_secret' }, tables: ['public.secrets'] });
    for (const name of ['Ada', 'Grace']) await t.store.append(randomUUID(), [{ type: 'user_create', body: { name } }]);
    events = await readAllWhenVisible(t.store, 2);
    await t.store.grant({ writers: [roles.writer], readers: [roles.reader, roles.other] });
    await t.store.query(`revoke select on public.secrets from ${pg.escapeIdentifier(roles.reader)}`);
    for (const role of Object.keys(roles) as (keyof typeof roles)[]) {
      stores[role] = await openEventStore({ url: urlAs(t.url!, roles[role]) });
    }
  }, READ_ALL_TEST_TIMEOUT_MS);
  afterAll(async () => {
    await cleanUp(
      ...Object.values(stores).map((store) => () => store?.close()),
      () => t?.dispose(),
      () => dropRoles(Object.values(roles).filter((role) => role !== '')),
    );
  });

  it('lets a reader and a writer do none of the actions, and names them', async () => {
    for (const role of ['reader', 'writer'] as const) {
      expect(await as(role).permissions()).toEqual({
        role: roles[role],
        rebuild: false,
        verify: false,
        refresh: false,
        manageSubscriptions: false,
      });
    }
  });

  it('allows an action once the role may execute every SQL function behind it (and, to manage subscriptions, is an operator)', async () => {
    const grant = (signature: string) =>
      t.store.query(`grant execute on function ${t.store.schema}.${signature} to ${pg.escapeIdentifier(roles.other)}`);
    await grant('refresh_materialized_view(text)');
    expect(await as('other').permissions()).toMatchObject({ refresh: true, rebuild: false, verify: false, manageSubscriptions: false });
    await grant('rebuild_start(text, boolean)');
    expect((await as('other').permissions()).rebuild).toBe(false);
    await grant('rebuild_step(text, integer)');
    await grant('rebuild_swap(text, text)');
    expect((await as('other').permissions()).rebuild).toBe(true);
    await grant('reset_subscription(text, text)');
    expect((await as('other').permissions()).manageSubscriptions).toBe(false);
    await grant('skip_subscription_event(text)');
    await grant('resume_subscription(text)');
    // EXECUTE is not enough: the functions change rows that only operators may (row-level security).
    expect((await as('other').permissions()).manageSubscriptions).toBe(false);
    await t.store.grant({ operators: [roles.other] });
    expect(await as('other').permissions()).toEqual({
      role: roles.other,
      rebuild: true,
      verify: false,
      refresh: true,
      manageSubscriptions: true,
    });
  });

  it('makes every read of the console as a reader, and sees what the owner sees', async () => {
    const reader = as('reader');
    const [ada] = events;
    expect(await reader.listStreams()).toEqual(await t.store.listStreams());
    expect(await reader.streamVersion(ada!.stream)).toBe(1);
    expect(await reader.readEvent(ada!.position)).toEqual(ada);
    expect(await reader.readAllBackward()).toEqual(await t.store.readAllBackward());
    expect(await reader.readAllBackward({ before: cursorOf(events[1]!) })).toEqual({ events: [ada], cursor: cursorOf(ada!) });
    expect(typeof (await reader.heldBackEvents())).toBe('number');
    expect(await reader.listEventTypes()).toEqual(await t.store.listEventTypes());
    const perMinute = await reader.appendsPerMinute();
    expect(perMinute.counts.reduce((sum, count) => sum + count, 0)).toBe(2);
    expect(perMinute.capped).toBe(false);
    expect(await reader.readProjectionRows('users')).toEqual(await t.store.readProjectionRows('users'));
  });

  it('reports a table the role may not read instead of failing, and refuses to read its rows', async () => {
    const tables = await as('reader').listProjectionTables();
    expect(tables).toEqual([
      { projection: 'secrets', table: 'public.secrets', relation: 'public.secrets', rows: null, rowsCapped: false, problem: expect.stringContaining('permission denied') },
      { projection: 'users', table: 'public.users', relation: 'public.users', rows: 2, rowsCapped: false, problem: null },
    ]);
    expect(await rejectionOf(as('reader').readProjectionRows('secrets'))).toMatchObject({ code: '42501' });
    expect(await t.store.listProjectionTables({ projection: 'secrets' })).toMatchObject([{ rows: 2, problem: null }]);
    expect((await as('other').readProjectionRows('secrets'))!.rows).toHaveLength(2);
  });
});
