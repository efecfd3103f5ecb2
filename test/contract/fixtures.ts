import { setTimeout as delay } from 'node:timers/promises';
import type { EventStore, ReadAllResult, StoredEvent } from '../../src/index.js';

/** Resolves to what the promise rejects with; fails when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** How many events the store holds. */
export async function countEvents(store: EventStore): Promise<number> {
  const [row] = await store.query<{ n: number }>(`select count(*)::int as n from ${store.schema}.events`);
  return row?.n ?? -1;
}

/** Rows of a read-model table, ordered by the given columns, so that two snapshots compare equal. */
export async function tableRows(store: EventStore, table: string, orderBy: string): Promise<Record<string, unknown>[]> {
  return store.query(`select * from ${table} order by ${orderBy}`);
}

/**
 * Timeout of a test that waits for readAll to see its events. readAll only returns events of
 * transactions below the server-wide xmin: a writing transaction in any other database of the same
 * server (another test file, a benchmark's bulk load) holds them back for as long as it runs. On a
 * server of its own (CI) the wait is over at once.
 */
export const READ_ALL_TEST_TIMEOUT_MS = 150_000;

/** Waits until `check` returns a value that is not undefined, polling until a deadline. */
export async function waitFor<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

/** Pages through readAll with the given page size until a page is empty; every page is returned. */
export async function readAllPages(
  store: EventStore,
  options: { limit: number; types?: string[]; after?: string },
): Promise<ReadAllResult[]> {
  const pages: ReadAllResult[] = [];
  let after = options.after;
  for (;;) {
    const page = await store.readAll({ limit: options.limit, ...(options.types ? { types: options.types } : {}), ...(after ? { after } : {}) });
    pages.push(page);
    if (page.events.length === 0) return pages;
    after = page.cursor;
  }
}

/** Waits until readAll (from the start) sees at least `count` events, then returns all of them. */
export async function readAllWhenVisible(store: EventStore, count: number): Promise<StoredEvent[]> {
  return waitFor(async () => {
    const events = (await readAllPages(store, { limit: 100_000 })).flatMap((page) => page.events);
    return events.length >= count ? events : undefined;
  }, `readAll to see ${count} events`);
}

/**
 * The seed's users read model as a pgevents projection: `users` rows keyed by the stream uuid.
 * user_create is handled in the seed's (uuid, jsonb) style, user_update and user_delete take the
 * whole event row. Every value comes from the event (never now()), so that a replay rebuilds
 * exactly what the live triggers wrote.
 */
export function usersReadModelSql(schema: string): string {
  return `
    create table public.users (
      uuid uuid primary key,
      name text,
      version bigint not null,
      updated_at timestamptz
    );

    create function public.project_user_create(p_uuid uuid, p_body jsonb) returns void
    language plpgsql
    set search_path = public, pg_temp
    as $$
    begin
      insert into users (uuid, name, version) values (p_uuid, p_body ->> 'name', 1);
    end;
    $$;

    create function public.project_user_update(e ${schema}.events) returns void
    language plpgsql
    set search_path = public, pg_temp
    as $$
    begin
      update users set name = e.body ->> 'name', version = e.version, updated_at = e.inserted_at
       where uuid = e.uuid;
    end;
    $$;

    create function public.project_user_delete(e ${schema}.events) returns void
    language plpgsql
    set search_path = public, pg_temp
    as $$
    begin
      delete from users where uuid = e.uuid;
    end;
    $$;
  `;
}

/** The handlers of the users projection, as given to defineProjection. */
export const usersHandlers = {
  user_create: 'public.project_user_create',
  user_update: 'public.project_user_update',
  user_delete: 'public.project_user_delete',
};

/** Creates the users read model and defines the `users` projection over it from TypeScript. */
export async function defineUsersProjection(store: EventStore): Promise<void> {
  await store.execScript(usersReadModelSql(store.schema));
  await store.defineProjection({ name: 'users', handlers: usersHandlers, tables: ['public.users'], streamColumn: 'uuid' });
}
