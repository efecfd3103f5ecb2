import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ImmutableEventsError,
  InvalidArgumentError,
  InvalidEventError,
  StreamArchivedError,
  StreamTombstonedError,
} from '../../src/index.js';
import type { EventStore, StoredEvent, Subscription } from '../../src/index.js';
import { translateError } from '../../src/db/translate-error.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { READ_ALL_TEST_TIMEOUT_MS } from './fixtures.js';
import { engineLabel, recorder, rejectionOf, runCli, waitFor } from './subscriptions.contract.js';

/** One event as an import line. */
const line = (stream: string, type: string) => `${JSON.stringify({ stream, type, body: { n: 1 } })}\n`;

async function* lines(...texts: string[]): AsyncIterable<string> {
  yield* texts;
}

export default function streamLifecycleContract(engine: TestEngine): void {
  // Some tests wait for readAll and subscriptions to see their events: see READ_ALL_TEST_TIMEOUT_MS.
  describe.skipIf(engine.unavailable !== null)(`the stream lifecycle (${engineLabel(engine)})`, { timeout: READ_ALL_TEST_TIMEOUT_MS }, () => {
    let t: TestStore;
    /** Appends and reads as the application: a writer and subscriber (the owner on the embedded engine). */
    let store: EventStore;
    /** Tombstones, truncates, defines, replays and rebuilds: the store's owner. */
    let owner: EventStore;
    /** Archives and unarchives: an operator (the owner on the embedded engine). */
    let operator: EventStore;
    let schema: string;
    const running: Subscription[] = [];

    const appendN = async (stream: string, type: string, n: number) =>
      store.append(stream, Array.from({ length: n }, (_, i) => ({ type, body: { n: i + 1 } })));
    const versions = async (stream: string) => (await store.readStream(stream, { includeArchived: true })).map((e) => e.version);
    const audit = async (stream: string) =>
      owner.query<{ operation: string; reason: string; before_version: string | null; deleted_events: string | null; done_by: string }>(
        `select operation, reason, before_version::text, deleted_events::text, done_by::text
           from ${schema}.stream_lifecycle where stream = $1 order by id`,
        [stream],
      );
    const translate = (error: unknown) => translateError(error, schema);
    /** Every path an append can take; each must fail with the error `expected` for `stream`. */
    const everyAppendPath = (stream: string) => ({
      append: () => store.append(stream, [{ type: 'lc_more', body: {} }]),
      appendExpected: () => store.append(stream, [{ type: 'lc_more', body: {} }], { expectedVersion: 'stream_exists' }),
      appendEvents: () => store.query(`select * from ${schema}.append_events($1, '[{"type":"lc_more","body":{}}]'::jsonb)`, [stream]),
      plainInsert: () => store.query(`insert into ${schema}.events (uuid, type, body) values ($1, 'lc_more', '{}')`, [stream]),
      plainInsertVersion: async () => {
        const version = await store.streamVersion(stream);
        await store.query(`insert into ${schema}.events (uuid, version, type, body) values ($1, $2, 'lc_more', '{}')`, [stream, version + 1]);
      },
      multiStreamInsert: () =>
        store.query(`insert into ${schema}.events (uuid, type, body) values ($1, 'lc_more', '{}'), ($2, 'lc_more', '{}')`, [
          randomUUID(),
          stream,
        ]),
      importOne: () => store.importEvents(lines(line(stream, 'lc_more')), { format: 'ndjson' }),
      // COPY straight into events (a server: the embedded test stores are reached through the API only).
      ...(t.url
        ? {
            copy: async () => {
              const client = new pg.Client({ connectionString: t.url });
              await client.connect();
              try {
                await pipeline(Readable.from([`${stream}\tlc_more\t{}\n`]), client.query(copyFrom(`copy ${schema}.events (uuid, type, body) from stdin`)));
              } catch (error) {
                throw translate(error);
              } finally {
                await client.end();
              }
            },
          }
        : {}),
      importMany: () => store.importEvents(lines(line(randomUUID(), 'lc_more'), line(stream, 'lc_more')), { format: 'ndjson' }),
    });
    const expectEveryAppendRefused = async (stream: string, errorClass: typeof StreamArchivedError | typeof StreamTombstonedError) => {
      const before = await versions(stream);
      for (const [path, attempt] of Object.entries(everyAppendPath(stream))) {
        const error = await rejectionOf(attempt());
        expect({ path, error }).toMatchObject({ path, error: expect.any(errorClass) });
        expect((error as StreamArchivedError).stream).toBe(stream);
      }
      expect(await versions(stream)).toEqual(before);
    };

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      owner = t.owner ?? store;
      operator = t.operator ?? store;
      schema = store.schema;
      await owner.execScript(`
        create table public.lc_counts (stream uuid primary key, events int not null, last_version bigint not null);
        create function public.lc_count(e ${schema}.events) returns void
        language sql
        set search_path = public, pg_temp
        as $$
          insert into lc_counts (stream, events, last_version) values (e.uuid, 1, e.version)
          on conflict (stream) do update set events = lc_counts.events + 1, last_version = excluded.last_version
        $$;
        create function public.lc_evolve(state jsonb, event ${schema}.events) returns jsonb
        language sql immutable
        as $$ select jsonb_build_object('n', (state ->> 'n')::int + 1) $$;`);
      await owner.defineProjection({ name: 'lc_counts', handlers: { lc_count: 'public.lc_count' }, tables: ['public.lc_counts'], streamColumn: 'stream' });
      await owner.defineSnapshot({ name: 'lc_snap', evolve: 'public.lc_evolve', types: ['lc_count'], initial: { n: 0 }, every: 2 });
    });
    afterAll(async () => {
      await Promise.all(running.map((subscription) => subscription.stop()));
      await t?.dispose();
    });

    it('archives a stream: appends by every path refused until unarchived, reads only on request, in the log and replays; audited', async () => {
      const stream = randomUUID();
      await appendN(stream, 'lc_count', 3);
      expect(await operator.archiveStream(stream, { reason: 'closed account' })).toBe('archived');
      expect(await operator.archiveStream(stream, { reason: 'again' })).toBe('archived');

      await expectEveryAppendRefused(stream, StreamArchivedError);
      const read = await rejectionOf(store.readStream(stream));
      expect(read).toBeInstanceOf(StreamArchivedError);
      expect((read as Error).message).toContain('include_archived');
      expect(await versions(stream)).toEqual([1, 2, 3]);
      const fold = { initial: () => 0, evolve: (n: number) => n + 1 };
      expect(await rejectionOf(store.aggregate(stream, fold))).toBeInstanceOf(StreamArchivedError);
      expect(await rejectionOf(store.aggregate(stream, { ...fold, snapshot: 'lc_snap', revive: () => 0 }))).toBeInstanceOf(StreamArchivedError);
      expect((await store.query(`select count(*)::int as n from ${schema}.read_stream($1, 1, 10, true)`, [stream]))[0]).toEqual({ n: 3 });
      // readAll is gap-safe: a transaction open anywhere on the server may hold the events back a while.
      await waitFor(
        async () => (await store.readAll({ types: ['lc_count'], limit: 10_000 })).events.filter((e) => e.stream === stream).length === 3,
        'the archived events in readAll',
        READ_ALL_TEST_TIMEOUT_MS,
      );

      expect(await store.streamState(stream)).toMatchObject({
        stream, state: 'archived', version: 3, events: 3, firstVersion: 1,
        lastChange: { operation: 'archive', reason: 'closed account' },
      });
      // A full replay and an online rebuild fold the archived stream's events too.
      await owner.replay('lc_counts');
      expect(await owner.query(`select events, last_version::int from public.lc_counts where stream = $1`, [stream])).toEqual([{ events: 3, last_version: 3 }]);
      await owner.rebuild('lc_counts');
      expect(await owner.query(`select events from public.lc_counts where stream = $1`, [stream])).toEqual([{ events: 3 }]);

      expect(await operator.unarchiveStream(stream, { reason: 'customer came back' })).toBe('live');
      await appendN(stream, 'lc_count', 1);
      expect(await versions(stream)).toEqual([1, 2, 3, 4]);
      expect((await audit(stream)).map((row) => [row.operation, row.reason])).toEqual([
        ['archive', 'closed account'],
        ['unarchive', 'customer came back'],
      ]);
      expect((await audit(stream))[0]!.done_by).toBeTruthy();
    });

    it('tombstones a stream: no append by any path, ever; its events read as they were; the id is never reused', async () => {
      const stream = randomUUID();
      await appendN(stream, 'lc_count', 2);
      expect(await owner.tombstoneStream(stream, { reason: 'GDPR request 42' })).toBe('tombstoned');
      await expectEveryAppendRefused(stream, StreamTombstonedError);
      expect((await store.readStream(stream)).map((e) => e.version)).toEqual([1, 2]);
      await owner.replay('lc_counts', { stream });
      expect(await owner.query(`select events from public.lc_counts where stream = $1`, [stream])).toEqual([{ events: 2 }]);
      expect(await rejectionOf(operator.archiveStream(stream, { reason: 'x' }))).toBeInstanceOf(StreamTombstonedError);
      expect(await rejectionOf(operator.unarchiveStream(stream, { reason: 'x' }))).toBeInstanceOf(StreamTombstonedError);
      expect(await store.streamState(stream)).toMatchObject({ state: 'tombstoned', version: 2, events: 2, lastChange: { operation: 'tombstone' } });

      // A never-used id can be tombstoned: that reserves it.
      const reserved = randomUUID();
      expect(await store.streamState(reserved)).toBeNull();
      await owner.tombstoneStream(reserved, { reason: 'reserved' });
      await expectEveryAppendRefused(reserved, StreamTombstonedError);
      expect(await store.streamState(reserved)).toMatchObject({ state: 'tombstoned', version: 0, events: 0, firstVersion: null });
      expect((await audit(stream)).map((row) => row.operation)).toEqual(['tombstone']);
    });

    it('refuses lifecycle calls without a reason, for an unknown stream, and tombstoning to an operator', async () => {
      const stream = randomUUID();
      expect(await rejectionOf(operator.archiveStream(stream, { reason: 'x' }))).toBeInstanceOf(InvalidArgumentError);
      await appendN(stream, 'lc_other', 1);
      expect(await rejectionOf(operator.archiveStream(stream, { reason: '  ' }))).toBeInstanceOf(InvalidArgumentError);
      await expect(owner.query(`select ${schema}.archive_stream($1, ' ')`, [stream])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      if (t.owner) {
        for (const role of [store, operator]) {
          await expect(role.tombstoneStream(stream, { reason: 'x' })).rejects.toMatchObject({ code: '42501' });
          await expect(role.truncateStreamBefore(stream, 1, { reason: 'x', withoutSnapshot: true })).rejects.toMatchObject({ code: '42501' });
        }
        await expect(store.archiveStream(stream, { reason: 'x' })).rejects.toMatchObject({ code: '42501' });
      }
      expect(await store.streamState(stream)).toMatchObject({ state: 'live', lastChange: null });
    });

    it('truncates before a version: only below a snapshot (or when told), keeps the last event, never reuses a version; replays fold what is left', async () => {
      const stream = randomUUID();
      for (let i = 0; i < 5; i++) await appendN(stream, 'lc_count', 1); // lc_snap writes at versions 2 and 4
      const unsnapshotted = randomUUID();
      await appendN(unsnapshotted, 'lc_other', 3);
      const noSnapshot = await rejectionOf(owner.truncateStreamBefore(unsnapshotted, 2, { reason: 'no snapshot' }));
      expect(noSnapshot).toBeInstanceOf(InvalidArgumentError);
      expect((noSnapshot as Error).message).toContain('No snapshot');
      expect(await owner.truncateStreamBefore(unsnapshotted, 2, { reason: 'told to', withoutSnapshot: true })).toEqual({ deleted: 1 });
      expect(await rejectionOf(owner.truncateStreamBefore(stream, 6, { reason: 'beyond the last event' }))).toBeInstanceOf(InvalidArgumentError);
      expect(await rejectionOf(owner.truncateStreamBefore(stream, 7, { reason: 'x', withoutSnapshot: true }))).toBeInstanceOf(InvalidArgumentError);
      expect(await rejectionOf(owner.truncateStreamBefore(stream, 0, { reason: 'x' }))).toBeInstanceOf(InvalidArgumentError);
      expect(await rejectionOf(owner.truncateStreamBefore(stream, 3, { reason: '' }))).toBeInstanceOf(InvalidArgumentError);

      expect(await owner.truncateStreamBefore(stream, 5, { reason: 'snapshot at 4' })).toEqual({ deleted: 4 });
      expect(await versions(stream)).toEqual([5]);
      expect(await owner.truncateStreamBefore(stream, 5, { reason: 'again' })).toEqual({ deleted: 0 });
      expect(await store.streamState(stream)).toMatchObject({ state: 'live', version: 5, events: 1, firstVersion: 5 });
      expect((await audit(stream)).map((row) => [row.operation, row.before_version, row.deleted_events])).toEqual([
        ['truncate_before', '5', '4'],
        ['truncate_before', '5', '0'],
      ]);

      // Versions go on; a deleted version is never stored again, whatever the path.
      await appendN(stream, 'lc_count', 1);
      expect(await versions(stream)).toEqual([5, 6]);
      const reuse = await rejectionOf(store.query(`insert into ${schema}.events (uuid, version, type, body) values ($1, 1, 'lc_count', '{}')`, [stream]));
      expect(reuse).toBeInstanceOf(InvalidEventError);
      expect((reuse as Error).message).toContain('never reused');
      const reuseMany = await rejectionOf(
        store.query(`insert into ${schema}.events (uuid, version, type, body) values ($1, 1, 'lc_count', '{}'), ($2, 1, 'lc_count', '{}')`, [randomUUID(), stream]),
      );
      expect(reuseMany).toBeInstanceOf(InvalidEventError);

      // The snapshot still holds the folded state; a replay or rebuild folds the events that are left.
      const [snapshot] = await owner.query<{ version: string; state: unknown }>(`select version::text, state from ${schema}_snapshots.lc_snap where stream = $1`, [stream]);
      expect(snapshot).toEqual({ version: '6', state: { n: 6 } });
      await owner.replay('lc_counts');
      expect(await owner.query(`select events, last_version::int from public.lc_counts where stream = $1`, [stream])).toEqual([{ events: 2, last_version: 6 }]);
      await owner.rebuild('lc_counts');
      expect(await owner.query(`select events from public.lc_counts where stream = $1`, [stream])).toEqual([{ events: 2 }]);
    });

    it('refuses a DELETE, TRUNCATE or UPDATE of events and a forged bypass, even to a role given DELETE', async () => {
      const stream = randomUUID();
      await appendN(stream, 'lc_count', 3);
      await owner.truncateStreamBefore(stream, 2, { reason: 'an earlier, real truncation', withoutSnapshot: true });
      const [{ id } = { id: '' }] = await owner.query<{ id: string }>(
        `select id::text from ${schema}.stream_lifecycle where stream = $1 and operation = 'truncate_before'`, [stream]);
      const hostile = store;
      if (t.owner) {
        // The writer may not delete at all; give it DELETE to show the trigger itself refuses.
        await expect(hostile.query(`delete from ${schema}.events where uuid = $1`, [stream])).rejects.toMatchObject({ code: '42501' });
        await owner.execScript(`grant update, delete, truncate on ${schema}.events to ${pg.escapeIdentifier(t.roles!.application)}`);
        await expect(hostile.query(`insert into ${schema}.stream_lifecycle (stream, operation, reason, before_version, deleted_events, stream_version, done_by)
                                    values ($1, 'truncate_before', 'forged', 9, 0, 0, 'x')`, [stream])).rejects.toMatchObject({ code: '42501' });
        await expect(hostile.query(`update ${schema}.streams set state = 'live', truncated_before = null where stream = $1`, [stream])).rejects.toMatchObject({ code: '42501' });
        await expect(hostile.query(`select ${schema}.record_stream_lifecycle(s, 'truncate_before', 'x', 9, 0) from ${schema}.streams s where stream = $1`, [stream]))
          .rejects.toMatchObject({ code: '42501' });
      }
      try {
        const attempts = [
          `delete from ${schema}.events where uuid = '${stream}'`,
          `select set_config('pgevents.truncate_${schema}', '${id}', true); delete from ${schema}.events where uuid = '${stream}'`,
          `select set_config('pgevents.truncate_${schema}', '1e3', true); delete from ${schema}.events where uuid = '${stream}'`,
          `truncate ${schema}.events`,
          `update ${schema}.events set body = '{}' where uuid = '${stream}'`,
        ];
        for (const sql of attempts) {
          const error = await rejectionOf(hostile.transaction(async (tx) => {
            for (const statement of sql.split('; ')) await tx.query(statement);
          }));
          expect({ sql, error }).toMatchObject({ sql, error: expect.any(ImmutableEventsError) });
        }
      } finally {
        if (t.owner) await owner.execScript(`revoke update, delete, truncate on ${schema}.events from ${pg.escapeIdentifier(t.roles!.application)}`);
      }
      expect(await versions(stream)).toEqual([2, 3]);
    });

    it('keeps a subscription running across an archive and a truncate-before; a new one reads what is left', async () => {
      const a = randomUUID();
      const b = randomUUID();
      const seen = recorder();
      const subscription = await store.subscribe({ name: 'lc-sub', types: ['lc_sub'], handler: seen.handler });
      running.push(subscription);
      await store.append(a, [{ type: 'lc_sub', body: {} }, { type: 'lc_sub', body: {} }]);
      await store.append(b, [{ type: 'lc_sub', body: {} }, { type: 'lc_sub', body: {} }, { type: 'lc_sub', body: {} }]);
      await waitFor(() => seen.events.length === 5, 'the first five events', READ_ALL_TEST_TIMEOUT_MS);
      await operator.archiveStream(a, { reason: 'sub test' });
      await owner.truncateStreamBefore(b, 3, { reason: 'sub test', withoutSnapshot: true });
      await store.append(b, [{ type: 'lc_sub', body: {} }]);
      await operator.unarchiveStream(a, { reason: 'sub test' });
      await store.append(a, [{ type: 'lc_sub', body: {} }]);
      await waitFor(() => seen.events.length === 7, 'the events after the archive and the truncation', READ_ALL_TEST_TIMEOUT_MS);
      const key = (e: StoredEvent) => `${e.stream === a ? 'a' : 'b'}${e.version}`;
      expect(seen.events.map(key)).toEqual(['a1', 'a2', 'b1', 'b2', 'b3', 'b4', 'a3']);
      expect([...seen.counts.values()].every((n) => n === 1)).toBe(true);
      expect(subscription.state).not.toBe('failed');

      const fresh = recorder();
      const later = await store.subscribe({ name: 'lc-sub-later', types: ['lc_sub'], handler: fresh.handler });
      running.push(later);
      await waitFor(() => fresh.events.length === 5, 'what is left, from the start', READ_ALL_TEST_TIMEOUT_MS);
      await later.caughtUp();
      expect(fresh.events.map(key)).toEqual(['a1', 'a2', 'b3', 'b4', 'a3']);
    });

    it('refuses an append that waited for the lock of an archive or tombstone that then committed, by every path', async () => {
      // Two sessions on one server database, as the owner: the embedded engine is one session.
      if (!t.url || t.owner) return;
      const session = async () => {
        const client = new pg.Client({ connectionString: t.url });
        await client.connect();
        return client;
      };
      const [closer, appender] = [await session(), await session()];
      try {
        const [{ pid }] = (await appender.query<{ pid: number }>('select pg_backend_pid() as pid')).rows as [{ pid: number }];
        const waiting = async () =>
          (await closer.query(`select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'`, [pid])).rowCount === 1;
        const attempts: [string, (stream: string) => Promise<unknown>][] = [
          ['append_events', (stream) => appender.query(`select * from ${schema}.append_events($1, '[{"type":"lc_more","body":{}}]'::jsonb)`, [stream])],
          ['plain insert', (stream) => appender.query(`insert into ${schema}.events (uuid, type, body) values ($1, 'lc_more', '{}')`, [stream])],
          ['plain insert with its version', (stream) => appender.query(`insert into ${schema}.events (uuid, version, type, body) values ($1, 2, 'lc_more', '{}')`, [stream])],
          ['insert into two streams', (stream) =>
            appender.query(`insert into ${schema}.events (uuid, type, body) values ($1, 'lc_more', '{}'), ($2, 'lc_more', '{}')`, [randomUUID(), stream])],
        ];
        for (const [operation, errorClass] of [['archive_stream', StreamArchivedError], ['tombstone_stream', StreamTombstonedError]] as const) {
          for (const [path, attempt] of attempts) {
            const stream = randomUUID();
            await appendN(stream, 'lc_more', 1);
            await closer.query('begin');
            await closer.query(`select ${schema}.${operation}($1, 'race')`, [stream]);
            const appended = attempt(stream).then(() => null, (error: unknown) => translate(error));
            await waitFor(waiting, `the ${path} to wait for the ${operation}`);
            await closer.query('commit');
            expect({ operation, path, error: await appended }).toMatchObject({ operation, path, error: expect.any(errorClass) });
            expect(await versions(stream)).toEqual([1]);
          }
        }
      } finally {
        await Promise.all([closer.end(), appender.end()]);
      }
    });

    it('the CLI: streams show / archive / unarchive / tombstone / truncate-before, with --json and exit codes', async () => {
      if (!t.url) return; // the embedded test stores are in memory: the CLI reaches server stores only
      const ownerUrl = t.owner ? undefined : t.url;
      const stream = randomUUID();
      await appendN(stream, 'lc_other', 4);
      const cli = (url: string, ...args: string[]) => runCli(['--database-url', url, ...args]);

      const shown = await cli(t.url, '--json', 'streams', 'show', stream);
      expect(shown.exitCode).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({ stream, state: 'live', version: 4, events: 4, firstVersion: 1 });
      expect((await cli(t.url, 'streams', 'show', randomUUID())).exitCode).toBe(1);

      if (t.owner) {
        // The application role may neither archive, tombstone nor truncate.
        for (const args of [['archive', stream], ['tombstone', stream], ['truncate-before', stream, '--before-version', '2']]) {
          const refused = await cli(t.url, 'streams', ...args, '--reason', 'x');
          expect(refused.exitCode).toBe(1);
          expect(refused.stderr).toContain('permission denied');
        }
        return;
      }
      const url = ownerUrl!;
      const archived = await cli(url, '--json', 'streams', 'archive', stream, '--reason', 'cli test');
      expect(archived.exitCode).toBe(0);
      expect(JSON.parse(archived.stdout)).toMatchObject({ state: 'archived', lastChange: { operation: 'archive', reason: 'cli test' } });
      const refusedRead = await cli(url, 'read', stream);
      expect(refusedRead.exitCode).toBe(1);
      expect(refusedRead.stderr).toContain('archived');
      expect(JSON.parse((await cli(url, '--json', 'read', stream, '--include-archived')).stdout)).toHaveLength(4);
      const appended = await cli(url, 'append', stream, 'lc_more', '{}');
      expect(appended.exitCode).toBe(1);
      expect(appended.stderr).toContain('archived');
      expect((await cli(url, 'streams', 'unarchive', stream, '--reason', 'cli test')).stdout).toContain('live');

      const noSnapshot = await cli(url, 'streams', 'truncate-before', stream, '--before-version', '4', '--reason', 'cli test');
      expect(noSnapshot.exitCode).toBe(2);
      expect(noSnapshot.stderr).toContain('snapshot');
      const truncated = await cli(url, '--json', 'streams', 'truncate-before', stream, '--before-version', '3', '--reason', 'cli test', '--without-snapshot');
      expect(truncated.exitCode).toBe(0);
      expect(JSON.parse(truncated.stdout)).toMatchObject({ deleted: 2, firstVersion: 3, events: 2, version: 4 });
      const tombstoned = await cli(url, 'streams', 'tombstone', stream, '--reason', 'cli test');
      expect(tombstoned.exitCode).toBe(0);
      expect(tombstoned.stdout).toContain('tombstoned');
      expect((await cli(url, 'append', stream, 'lc_more', '{}')).stderr).toContain('tombstoned');
    });
  });
}
