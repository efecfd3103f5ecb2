import pg from 'pg';
import type { EventStore } from '../../src/index.js';
import { waitFor } from './race-helpers.js';

/** The event types the tally projection handles. */
export const TALLY_TYPES = ['tally_a', 'tally_b'];

/**
 * The read model of the rebuild tests: `public.tallies` counts each stream's handled events and
 * keeps the version of the last one. Its rows are a function of the events alone, so a rebuild,
 * a replay and the live trigger must all agree on them.
 *
 * The handler has a gate (see {@link closeTallyGate}): applied to the copies of a rebuild or a
 * verify (whose handler clones put their own schema first, so that current_schema() is not
 * public), an event whose body has `"gate": true` waits for a shared hold of advisory lock
 * (4242, 2). The live trigger and replays never wait there.
 */
const TALLY_SQL = `
  create table public.tallies (
    uuid uuid primary key,
    n int not null,
    last_version bigint not null
  );
  create function public.tally_event(e pgevents.events) returns void
  language plpgsql set search_path = public, pg_temp
  as $$
  begin
    if (e.body ->> 'gate') = 'true' and current_schema() <> 'public' then
      perform pg_advisory_xact_lock_shared(4242, 2);
    end if;
    insert into tallies as t (uuid, n, last_version) values (e.uuid, 1, e.version)
    on conflict (uuid) do update set n = t.n + 1, last_version = e.version;
  end;
  $$;
`;

/** The tally model in one statement: the fast path. */
export const TALLY_REBUILD_SQL = `
  insert into tallies (uuid, n, last_version)
  select uuid, count(*), max(version) from pgevents.events where type in ('tally_a', 'tally_b') group by uuid`;

/** Streams loaded per transaction: a long writing transaction holds back every gap-safe reader of the server. */
const STREAMS_PER_CHUNK = 500;

/**
 * Loads `streams` × `perStream` handled events set-based (streams first, then every event with its
 * version in one INSERT … SELECT, so no per-row trigger runs), in transactions of a few thousand
 * events, fills the tallies set-based, and only then defines the projection: the read model is
 * live and consistent without paying for the handlers once per event. The events are stored stream
 * after stream, so the k-th event in position order is event k % perStream + 1 of stream
 * k / perStream. With `gateAt` (a fraction), the first event of the stream at that fraction of the
 * load is a gated one (`"gate": true`): a rebuild that applies events in position order waits at it,
 * with `floor(gateAt * streams) * perStream` events before it, while a test holds the gate.
 */
export async function loadTallies(
  store: EventStore,
  options: { streams: number; perStream: number; rebuildSql?: boolean; gateAt?: number },
): Promise<void> {
  await store.execScript(TALLY_SQL);
  const gatedStream = options.gateAt === undefined ? -1 : Math.floor(options.gateAt * options.streams);
  for (let loaded = 0; loaded < options.streams; loaded += STREAMS_PER_CHUNK) {
    await store.execScript(`
      create temporary table new_streams as
        select gen_random_uuid() as stream, ${loaded} + g - 1 as n
          from generate_series(1, ${Math.min(STREAMS_PER_CHUNK, options.streams - loaded)}) g;
      insert into pgevents.streams (stream, version) select stream, ${options.perStream} from new_streams;
      insert into pgevents.events (uuid, version, type, body)
      select s.stream, v, case when v % 2 = 0 then 'tally_a' else 'tally_b' end,
             jsonb_build_object('v', v) || case when s.n = ${gatedStream} and v = 1 then '{"gate": true}'::jsonb else '{}' end
        from new_streams s, generate_series(1, ${options.perStream}) v
       order by s.n, v;
      drop table new_streams;
    `);
  }
  await store.execScript(TALLY_REBUILD_SQL);
  await store.defineProjection({
    name: 'tally',
    handlers: Object.fromEntries(TALLY_TYPES.map((type) => [type, 'public.tally_event'])),
    tables: ['public.tallies'],
    streamColumn: 'uuid',
    ...(options.rebuildSql ? { rebuildSql: TALLY_REBUILD_SQL } : {}),
  });
}

/** The tallies, ordered, as comparable rows. */
export async function tallyRows(store: EventStore): Promise<{ uuid: string; n: number; last_version: number }[]> {
  return store.query(`select uuid::text as uuid, n, last_version::int as last_version from public.tallies order by uuid`);
}

/** Rows of the tallies that disagree with the events (should be none). */
export async function talliesOff(store: EventStore): Promise<unknown[]> {
  return store.query(`
    select coalesce(t.uuid, e.uuid)::text as uuid, t.n, e.n as expected
      from public.tallies t
      full join (select uuid, count(*)::int as n, max(version) as last_version from pgevents.events
                  where type in ('tally_a', 'tally_b') group by uuid) e on e.uuid = t.uuid
     where t.n is distinct from e.n or t.last_version is distinct from e.last_version`);
}

/**
 * One statement, one snapshot: what the read model says (rows, total) against what the events say.
 * A complete state, old or new, has both equal.
 */
export const TALLY_CONSISTENCY_SQL = `
  select (select count(*)::int from public.tallies) as model_streams,
         (select coalesce(sum(n), 0)::int from public.tallies) as model_events,
         (select count(*)::int from pgevents.events where type in ('tally_a', 'tally_b')) as events,
         (select count(distinct uuid)::int from pgevents.events where type in ('tally_a', 'tally_b')) as streams`;

/** A connection that holds the tally gate (advisory lock (4242, 2)) exclusively. */
export interface TallyGate {
  /**
   * Waits until a backend of the gate's database waits at the gate (a rebuild, swap or verify that
   * reached a gated event), and returns its pid.
   */
  waiter(timeoutMs?: number): Promise<number>;
  /** Lets the waiting backends go on, and closes the connection (which may be gone: a crash test). */
  open(): Promise<void>;
}

/** Closes the tally gate on the database at `url`: every gated event applied to a copy waits at it. */
export async function closeTallyGate(url: string): Promise<TallyGate> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  await client.query('select pg_advisory_lock(4242, 2)');
  let opened = false;
  return {
    waiter(timeoutMs = 60_000) {
      return waitFor(
        'a backend to wait at the tally gate',
        async () => {
          const { rows } = await client.query<{ pid: number }>(
            `select pid from pg_locks
              where locktype = 'advisory' and classid = 4242 and objid = 2 and objsubid = 2 and not granted
                and database = (select oid from pg_database where datname = current_database())`,
          );
          return rows[0]?.pid;
        },
        timeoutMs,
      );
    },
    async open() {
      if (opened) return;
      opened = true;
      try {
        await client.query('select pg_advisory_unlock(4242, 2)');
      } catch {
        // The server went away (a crash test): the lock went with it.
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}
