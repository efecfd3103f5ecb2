import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { pgcrypto } from '@electric-sql/pglite/contrib/pgcrypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { describeSchema } from '../../scripts/lib/catalogue.js';
import {
  DirectPartitionWriteError,
  DuplicateEventError,
  type EventStore,
  ImmutableEventsError,
  InvalidArgumentError,
  openEventStore,
} from '../../src/index.js';
import { runCli } from '../support/cli.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { defineUsersProjection, rejectionOf, waitFor } from './fixtures.js';

/** The events of the whole log, in order, as a test compares them across a move. */
async function wholeLog(store: EventStore) {
  const rows = await store.query(
    `select id::text, uuid::text, version::text, type, body, metadata, event_id::text, transaction_id::text
       from ${store.schema}.events order by id`,
  );
  return rows;
}

async function partitionNames(store: EventStore): Promise<string[]> {
  const rows = await store.query(
    `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = $1::regclass order by c.relname`,
    [`${store.schema}.events`],
  );
  return rows.map((row) => String(row.relname));
}

export default function partitionedEventsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`partitioned events (${engine.name}${engine.variant ? `, ${engine.variant}` : ''})`, () => {
    let t: TestStore;
    /** The store's owner: moves the log and reaches its partitions. */
    let owner: EventStore;
    let store: EventStore;
    beforeAll(async () => {
      t = await engine.createStore();
      owner = t.owner ?? t.store;
      store = t.store;
      await defineUsersProjection(owner);
      if (t.roles) {
        await owner.execScript(`grant select on public.users to ${pg.escapeIdentifier(t.roles.application)}`);
      }
    });
    afterAll(async () => {
      await t?.dispose();
    });

    it('moves a log with events, projections, a materialized view and a snapshot to partitions and back, keeping every event and object', async () => {
      await owner.defineMaterializedView({ name: 'pt_counts', query: `select type, count(*) as events from ${owner.schema}.events group by type` });
      await owner.execScript(`
        create function public.pt_evolve(p_state jsonb, e ${owner.schema}.events) returns jsonb
        language sql immutable as $$ select jsonb_build_object('count', coalesce((p_state ->> 'count')::int, 0) + 1) $$;`);
      await owner.defineSnapshot({ name: 'pt_count', evolve: 'public.pt_evolve', types: ['user_create', 'user_update'], initial: {}, every: 1 });
      const streams = [randomUUID(), randomUUID(), randomUUID()];
      for (const [index, stream] of streams.entries()) {
        await store.append(stream, [
          { type: 'user_create', body: { name: `user ${index}` } },
          { type: 'user_update', body: { name: `user ${index} renamed` } },
        ]);
      }
      const before = await wholeLog(owner);
      const users = await owner.query('select uuid::text, name, version from public.users order by uuid');
      expect(users).toHaveLength(3);

      const moved = await owner.partitionEvents(4);
      expect(moved).toMatchObject({ partitions: 4, previous: 0, events: before.length });
      expect(moved.dependents).toBeGreaterThan(3);
      expect(await owner.eventPartitions()).toBe(4);
      expect(await partitionNames(owner)).toEqual(['events_p0_of_4', 'events_p1_of_4', 'events_p2_of_4', 'events_p3_of_4']);
      expect(await wholeLog(owner)).toEqual(before);
      expect(await owner.query('select uuid::text, name, version from public.users order by uuid')).toEqual(users);
      // Nothing to do the second time.
      expect(await owner.partitionEvents(4)).toMatchObject({ partitions: 4, previous: 4, events: null });

      // The projection (handlers taking the event row were created again), the snapshot, the
      // materialized view and the reads work on the partitioned log, as the application's role.
      const next = await store.append(streams[0]!, [{ type: 'user_update', body: { name: 'after the move' } }]);
      expect(next.events[0]!.position).toBeGreaterThan(Number(before.at(-1)!.id));
      expect(await owner.query(`select name from public.users where uuid = $1`, [streams[0]])).toEqual([{ name: 'after the move' }]);
      expect((await store.readStream(streams[0]!)).map((event) => event.version)).toEqual([1, 2, 3]);
      const fold = { snapshot: 'pt_count', initial: () => ({ count: 0 }), evolve: (state: { count: number }) => ({ count: state.count + 1 }) };
      expect(await store.aggregate(streams[0]!, fold)).toEqual({ state: { count: 3 }, version: 3, snapshotVersion: 3 });
      await owner.refreshMaterializedView('pt_counts');
      expect(await owner.query(`select type, events::int from public.pt_counts order by type`)).toEqual([
        { type: 'user_create', events: 3 },
        { type: 'user_update', events: 4 },
      ]);
      expect(await owner.replay('users')).toMatchObject({ applied: before.length + 1 });
      expect(await owner.query('select name from public.users where uuid = $1', [streams[0]])).toEqual([{ name: 'after the move' }]);

      // Another number of partitions, then back to one table.
      expect(await owner.partitionEvents(8)).toMatchObject({ partitions: 8, previous: 4, events: before.length + 1 });
      expect(await partitionNames(owner)).toHaveLength(8);
      expect(await owner.partitionEvents(0)).toMatchObject({ partitions: 0, previous: 8, events: before.length + 1 });
      expect(await partitionNames(owner)).toEqual([]);
      expect((await wholeLog(owner)).slice(0, before.length)).toEqual(before);
      await store.append(streams[1]!, [{ type: 'user_update', body: { name: 'one table again' } }]);
      expect(await owner.query(`select name from public.users where uuid = $1`, [streams[1]])).toEqual([{ name: 'one table again' }]);
    });

    it('keeps versions, idempotent ids (an id stored in another stream is refused) and immutability; refuses writes aimed at a partition', async () => {
      await owner.partitionEvents(4);
      const stream = randomUUID();
      const id = randomUUID();
      const first = await store.append(stream, [{ id, type: 'user_create', body: { name: 'Ada' } }]);
      // A retry of the same batch is answered with what was stored; the id in another stream is refused.
      expect(await store.append(stream, [{ id, type: 'user_create', body: { name: 'Ada' } }])).toEqual(first);
      const other = randomUUID();
      expect(await rejectionOf(store.append(other, [{ id, type: 'user_create', body: { name: 'Ada' } }]))).toBeInstanceOf(DuplicateEventError);
      expect(await rejectionOf(store.query(
        `insert into ${store.schema}.events (uuid, type, body, event_id) values ($1, 'user_create', '{}', $2)`, [other, id],
      ))).toBeInstanceOf(DuplicateEventError);
      // ON CONFLICT cannot skip a stored id here (no unique index on event_id to infer): the duplicate
      // is an error, and nothing is stored (docs/scale-out.md).
      expect(await rejectionOf(store.execScript(
        `insert into ${store.schema}.events (uuid, type, body, event_id) values ('${stream}', 'user_create', '{}', '${id}') on conflict do nothing`,
      ))).toBeInstanceOf(DuplicateEventError);
      expect(await rejectionOf(store.execScript(
        `insert into ${store.schema}.events (uuid, type, body, event_id) values ('${stream}', 'user_create', '{}', '${id}') on conflict (event_id) do nothing`,
      ))).toMatchObject({ code: '42P10' });
      expect(await rejectionOf(store.append(stream, [{ type: 'user_update', body: {} }], { expectedVersion: 0 }))).toMatchObject({ code: 'CONCURRENCY' });
      // An explicit version the stream has: the partition's unique index reports it, as ConcurrencyError
      // (a role that may not read the key gets PostgreSQL's error, as in one table).
      expect(await rejectionOf(owner.execScript(
        `insert into ${owner.schema}.events (uuid, version, type, body) values ('${stream}', 1, 'user_update', '{}')`,
      ))).toMatchObject({ code: 'CONCURRENCY' });
      expect(await store.streamVersion(other)).toBe(0);

      const [row] = await owner.query(
        `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
          where i.inhparent = $1::regclass and exists (select 1 from ${owner.schema}.events e where e.tableoid = c.oid and e.uuid = $2)`,
        [`${owner.schema}.events`, stream],
      );
      const partition = `${owner.schema}.${String(row!.relname)}`;
      // Even the owner cannot write a partition directly, nor change, empty, detach or drop one.
      expect(await rejectionOf(owner.query(`insert into ${partition} (uuid, version, type, body) values ($1, 2, 'user_update', '{}')`, [stream])))
        .toBeInstanceOf(DirectPartitionWriteError);
      for (const statement of [
        `update ${partition} set body = '{}'`,
        `delete from ${partition}`,
        `truncate ${partition}`,
        `update ${owner.schema}.events set body = '{}' where uuid = '${stream}'`,
        `alter table ${owner.schema}.events detach partition ${partition}`,
        `drop table ${partition}`,
      ]) {
        expect(await rejectionOf(owner.execScript(statement)), statement).toBeInstanceOf(ImmutableEventsError);
      }
      if (t.roles) {
        // An application role has no privilege on a partition at all.
        expect(await rejectionOf(store.query(`insert into ${partition} (uuid, version, type, body) values ($1, 2, 'user_update', '{}')`, [stream])))
          .toMatchObject({ code: '42501' });
        expect(await rejectionOf(store.partitionEvents(8))).toMatchObject({ code: '42501' });
      }
      expect(await store.readStream(stream)).toHaveLength(1);
      expect(await partitionNames(owner)).toHaveLength(4);
      // The sanctioned delete (truncate-before) still works through the events table.
      await store.append(stream, [{ type: 'user_update', body: { name: 'Ada L.' } }, { type: 'user_update', body: { name: 'Ada K.' } }]);
      expect(await owner.truncateStreamBefore(stream, 3, { reason: 'partitioned truncate', withoutSnapshot: true })).toEqual({ deleted: 2 });
      expect((await store.readStream(stream)).map((event) => event.version)).toEqual([3]);
    });

    it('with an archive partition, archiving a stream moves its events out of the live partitions and unarchiving moves them back; every read path still finds them', async () => {
      await owner.partitionEvents(4, { archivePartition: true });
      expect(await owner.eventLayout()).toEqual({ partitions: 4, archive: true });
      const [archived, live] = [randomUUID(), randomUUID()];
      await store.append(archived, [{ type: 'user_create', body: { name: 'old' } }, { type: 'user_update', body: { name: 'older' } }]);
      await store.append(live, [{ type: 'user_create', body: { name: 'new' } }]);
      const where = async (stream: string) =>
        (await owner.query(`select tableoid::regclass::text as partition, archived from ${owner.schema}.events where uuid = $1 order by version`, [stream]))
          .map((row) => [String(row.partition).replace(`${owner.schema}.`, ''), row.archived]);
      expect((await where(archived)).every(([partition, flag]) => /^events_p\d_of_4$/.test(String(partition)) && flag === false)).toBe(true);

      await (t.operator ?? owner).archiveStream(archived, { reason: 'closed long ago' });
      expect(await where(archived)).toEqual([['events_archived', true], ['events_archived', true]]);
      // Out of the live part (whose indexes are the hot ones), in the archive partition.
      const [counts] = await owner.query(
        `select (select count(*)::int from ${owner.schema}.events_live where uuid = $1) as live,
                (select count(*)::int from ${owner.schema}.events_archived where uuid = $1) as archive`, [archived]);
      expect(counts).toEqual({ live: 0, archive: 2 });
      // Readable on request and in full reads, replays and subscriptions; appends refused.
      expect((await store.readStream(archived, { includeArchived: true })).map((event) => event.body)).toEqual([{ name: 'old' }, { name: 'older' }]);
      expect((await store.readAll({ limit: 100_000 })).events.filter((event) => event.stream === archived)).toHaveLength(2);
      expect(await rejectionOf(store.append(archived, [{ type: 'user_update', body: {} }]))).toMatchObject({ code: 'STREAM_ARCHIVED' });
      await owner.replay('users');
      expect(await owner.query('select name from public.users where uuid = $1', [archived])).toEqual([{ name: 'older' }]);

      // Nobody sets archived by hand: not in an INSERT, not by forging the setting of the move.
      expect(await rejectionOf(owner.execScript(
        `insert into ${owner.schema}.events (uuid, type, body, archived) values ('${randomUUID()}', 'user_create', '{}', true)`,
      ))).toMatchObject({ code: 'INVALID_EVENT' });
      expect(await rejectionOf(owner.execScript(
        `select set_config('pgevents.archive_${owner.schema}', '1', true);
         update ${owner.schema}.events set archived = false where uuid = '${archived}'`,
      ))).toBeInstanceOf(ImmutableEventsError);
      expect(await rejectionOf(owner.execScript(
        `select set_config('pgevents.archive_${owner.schema}', '1', true);
         insert into ${owner.schema}.events (uuid, type, body) values ('${live}', 'user_update', '{}')`,
      ))).toBeInstanceOf(ImmutableEventsError);
      expect(await where(archived)).toEqual([['events_archived', true], ['events_archived', true]]);

      await (t.operator ?? owner).unarchiveStream(archived, { reason: 'customer came back' });
      expect((await where(archived)).map(([partition, flag]) => [/^events_p\d_of_4$/.test(String(partition)), flag])).toEqual([[true, false], [true, false]]);
      const appended = await store.append(archived, [{ type: 'user_update', body: { name: 'back' } }]);
      expect(appended.nextVersion).toBe(3);
      expect(await owner.query('select name from public.users where uuid = $1', [archived])).toEqual([{ name: 'back' }]);

      // A stream archived before the move lands in the archive partition; a move away keeps the flag.
      await owner.archiveStream(live, { reason: 'before the move' });
      await owner.partitionEvents(8);
      expect(await owner.eventLayout()).toEqual({ partitions: 8, archive: true });
      expect(await where(live)).toEqual([['events_archived', true]]);
      await owner.partitionEvents(0, { archivePartition: false });
      expect(await where(live)).toEqual([['events', true]]);
      await owner.partitionEvents(0, { archivePartition: true });
      expect(await where(live)).toEqual([['events_archived', true]]);
      await owner.unarchiveStream(live, { reason: 'after' });
      expect(await where(live)).toEqual([['events_live', false]]);
      await owner.partitionEvents(4, { archivePartition: false });
    });

    it('refuses a bad number of partitions with a clear error and changes nothing', async () => {
      const partitions = await owner.eventPartitions();
      for (const bad of [-1, 1, 1025, 2.5]) {
        const error = await rejectionOf(owner.partitionEvents(bad));
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect(error).toMatchObject({ message: expect.stringMatching(/Invalid number of partitions/) });
      }
      expect(await rejectionOf(owner.query(`select ${owner.schema}.partition_events(1)`))).toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await owner.eventPartitions()).toBe(partitions);
    });

    it.runIf(engine.name === 'embedded')('openEventStore({ partitions }) installs a new store partitioned, and refuses a store with events in another layout', async () => {
      const pglite = await PGlite.create({ loadDataDir: new Blob([readFileSync(inject('pgliteDump'))]), extensions: { pgcrypto } });
      try {
        const fresh = await openEventStore({ pglite, schema: 'pt_fresh', migrate: true, partitions: 8 });
        try {
          expect(await fresh.eventPartitions()).toBe(8);
          await fresh.append(randomUUID(), [{ type: 'user_create', body: {} }]);
        } finally {
          await fresh.close();
        }
        const again = await openEventStore({ pglite, schema: 'pt_fresh', migrate: true, partitions: 8 });
        await again.close();
        const refused = await rejectionOf(openEventStore({ pglite, schema: 'pt_fresh', partitions: 0 }));
        expect(refused).toBeInstanceOf(InvalidArgumentError);
        expect(refused).toMatchObject({ message: expect.stringMatching(/holds events in another layout: 8 partitions by stream, not one table/), hint: expect.stringMatching(/pgevents partition 0/) });
      } finally {
        await pglite.close();
      }
    });

    it.runIf(engine.name === 'server' && engine.variant === undefined)('a move back to one table leaves the catalogue exactly as a store that was never partitioned', async () => {
      const client = new pg.Client({ connectionString: t.url });
      await client.connect();
      try {
        await owner.partitionEvents(0);
        const unpartitioned = await describeSchema(client, owner.schema);
        await owner.partitionEvents(4);
        expect(await describeSchema(client, owner.schema)).not.toEqual(unpartitioned);
        await owner.partitionEvents(0);
        expect((await describeSchema(client, owner.schema)).split('\n')).toEqual(unpartitioned.split('\n'));
      } finally {
        await client.end();
      }
    });

    it.runIf(engine.name === 'server' && engine.variant === undefined)('pgevents partition <count> and pgevents migrate --partitions (--json, exit codes)', async () => {
      const cli = (...args: string[]) => runCli(['--database-url', t.url!, ...args]);
      await owner.partitionEvents(0);
      const moved = await cli('--json', 'partition', '4');
      expect(moved.exitCode).toBe(0);
      expect(JSON.parse(moved.stdout)).toMatchObject({ partitions: 4, previous: 0, events: expect.any(Number), lockedMs: expect.any(Number) });
      const again = await cli('partition', '4');
      expect(again.exitCode).toBe(0);
      expect(again.stdout).toMatch(/already has 4 partitions: nothing moved/);
      const bad = await cli('partition', '1');
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toMatch(/Invalid number of partitions/);
      // A new store in another schema, partitioned at install; the old one with events is refused.
      const installed = await cli('--schema', 'pt_cli', '--json', 'migrate', '--partitions', '8');
      expect(installed.exitCode).toBe(0);
      expect(JSON.parse(installed.stdout)).toMatchObject({ schema: 'pt_cli', partitions: 8, partitioned: true });
      const refused = await cli('migrate', '--partitions', '8');
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toMatch(/holds events in another layout: 4 partitions by stream, not 8 partitions by stream/);
      expect(await owner.eventPartitions()).toBe(4);
    });

    it.runIf(engine.name === 'server')('a move waits for the transactions that hold the log, and appends wait for the move, then land in the new layout', async () => {
      await owner.partitionEvents(0);
      const holder = new pg.Client({ connectionString: t.url });
      await holder.connect();
      const stream = randomUUID();
      try {
        await holder.query('begin');
        await holder.query(`insert into ${owner.schema}.events (uuid, type, body) values ($1, 'user_create', '{"name":"held"}')`, [stream]);
        const move = owner.partitionEvents(4);
        const waitingFor = async (pattern: string) =>
          waitFor(async () => {
            // As the owner: another role's query text is hidden from an application role.
            const rows = await owner.query(
              `select count(*)::int as waiting from pg_stat_activity where wait_event_type = 'Lock' and query ~ $1 and datname = current_database()`,
              [pattern],
            );
            return Number(rows[0]!.waiting) > 0 ? true : undefined;
          }, `a session waiting on a lock for ${pattern}`);
        await waitingFor('partition_events');
        const append = store.append(stream, [{ type: 'user_update', body: { name: 'waited' } }]);
        await waitingFor('append_events');
        await holder.query('commit');
        expect(await move).toMatchObject({ partitions: 4, previous: 0 });
        const appended = await append;
        expect(appended.nextVersion).toBe(2);
        expect((await store.readStream(stream)).map((event) => event.body)).toEqual([{ name: 'held' }, { name: 'waited' }]);
        expect(await owner.query(`select name from public.users where uuid = $1`, [stream])).toEqual([{ name: 'waited' }]);
      } finally {
        await holder.end();
      }
    });
  });
}
