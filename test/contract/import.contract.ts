import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  DuplicateEventError,
  type EventStore,
  type ImportProgress,
  InvalidArgumentError,
  InvalidEventError,
  openEventStore,
  ProjectionHandlerError,
  type StoredEvent,
} from '../../src/index.js';
import { runCli } from '../support/cli.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { countEvents, rejectionOf } from './fixtures.js';

/**
 * Two projections over the imported types: `import_counts` with a per-event handler (events and
 * last version per stream), `import_batches` with a batch handler (one row per call), and
 * `import_fails`, whose handler refuses every event of its type.
 */
function importReadModelsSql(schema: string): string {
  return `
    create table public.import_counts (uuid uuid primary key, events bigint not null, last_version bigint not null);

    create function public.import_count(e ${schema}.events) returns void
    language plpgsql
    set search_path = public, pg_temp
    as $$
    begin
      insert into import_counts as c (uuid, events, last_version) values (e.uuid, 1, e.version)
      on conflict (uuid) do update set events = c.events + 1, last_version = e.version;
    end;
    $$;

    create table public.import_batches (first_position bigint primary key, last_position bigint not null, events int not null);

    create function public.import_batch(p_events ${schema}.events[]) returns void
    language plpgsql
    set search_path = public, pg_temp
    as $$
    begin
      insert into import_batches (first_position, last_position, events)
      values (p_events[1].id, p_events[cardinality(p_events)].id, cardinality(p_events));
    end;
    $$;

    create function public.import_fail(p_uuid uuid, p_body jsonb) returns void
    language plpgsql
    set search_path = public, pg_temp
    as $$
    begin
      raise exception 'import_fail refuses every event';
    end;
    $$;
  `;
}

async function defineImportProjections(store: EventStore): Promise<void> {
  await store.execScript(importReadModelsSql(store.schema));
  await store.defineProjection({
    name: 'import_counts',
    handlers: { imp_a: 'public.import_count', imp_b: 'public.import_count' },
    tables: ['public.import_counts'],
    streamColumn: 'uuid',
  });
  await store.defineProjection({
    name: 'import_batches',
    handlers: { imp_a: 'public.import_batch', imp_b: 'public.import_batch' },
    tables: ['public.import_batches'],
  });
  await store.defineProjection({ name: 'import_fails', handlers: { imp_fail: 'public.import_fail' } });
}

/** NDJSON text of the given objects. */
function ndjson(events: object[]): string {
  return events.map((event) => `${JSON.stringify(event)}\n`).join('');
}

/** A CSV field, always quoted (RFC 4180: quotes doubled). */
function quoted(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

/** Events of the given streams in position order. */
async function eventsOf(store: EventStore, ...streams: string[]): Promise<StoredEvent[]> {
  const events = (await Promise.all(streams.map((stream) => store.readStream(stream)))).flat();
  return events.sort((a, b) => a.position - b.position);
}

async function countsOf(store: EventStore, stream: string) {
  const [row] = await store.query<{ events: number; last_version: number }>(
    'select events::int as events, last_version::int as last_version from public.import_counts where uuid = $1',
    [stream],
  );
  return row;
}

async function batchCalls(store: EventStore, afterPosition: number) {
  return store.query<{ first_position: number; last_position: number; events: number }>(
    `select first_position::int as first_position, last_position::int as last_position, events
       from public.import_batches where first_position > $1 order by first_position`,
    [afterPosition],
  );
}

async function lastPosition(store: EventStore): Promise<number> {
  const [row] = await store.query<{ position: number }>(`select coalesce(max(id), 0)::int as position from ${store.schema}.events`);
  return row?.position ?? 0;
}

/**
 * Where the CLI reaches the engine: the server test database by its url; for the embedded engine
 * a data directory loaded from the migrated dump (the CLI opens its own PGlite there), which
 * `check` opens after the CLI has closed it.
 */
interface CliTarget {
  args: string[];
  check<T>(fn: (store: EventStore) => Promise<T>): Promise<T>;
  dispose(): Promise<void>;
}

async function cliTarget(engine: TestEngine): Promise<CliTarget> {
  if (engine.name === 'server') {
    const t: TestStore = await engine.createStore();
    return { args: ['--database-url', t.url!], check: (fn) => fn(t.store), dispose: () => t.dispose() };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'pgevents-import-cli-'));
  const pglite = await PGlite.create({ dataDir, loadDataDir: new Blob([readFileSync(inject('pgliteDump'))]) });
  await pglite.close();
  return {
    args: ['--data-dir', dataDir],
    async check(fn) {
      const store = await openEventStore({ dataDir });
      try {
        return await fn(store);
      } finally {
        await store.close();
      }
    },
    async dispose() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export default function importContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`import (${engine.name})`, () => {
    let t: TestStore;
    let dir: string;

    beforeAll(async () => {
      t = await engine.createStore();
      await defineImportProjections(t.store);
      dir = mkdtempSync(join(tmpdir(), 'pgevents-import-'));
    });
    afterAll(async () => {
      await t?.dispose();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** Writes a file in the test's folder; returns its path. */
    function file(name: string, text: string | Buffer): string {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    }

    describe('NDJSON', () => {
      it('imports into new streams: versions from 1 and positions rising, in file order', async () => {
        const [a, b] = [randomUUID(), randomUUID()];
        const id = randomUUID();
        const path = file(
          'new.ndjson',
          ndjson([
            { stream: a, type: 'imp_a', body: { n: 1 } },
            { uuid: b, type: 'imp_b', body: { n: 2 }, metadata: { source: 'test' }, id },
            { stream: a, type: 'imp_b', body: { n: 3, text: 'tab\there, back\\slash, line\nbreak, "quotes", é, 🎉' } },
          ]),
        );
        const result = await t.store.importEvents(path);
        expect(result).toEqual({
          imported: 3,
          skipped: 0,
          streams: 2,
          firstPosition: expect.any(Number),
          lastPosition: expect.any(Number),
        });
        const events = await eventsOf(t.store, a, b);
        expect(events.map((event) => [event.stream, event.version, event.type, event.body, event.metadata])).toEqual([
          [a, 1, 'imp_a', { n: 1 }, {}],
          [b, 1, 'imp_b', { n: 2 }, { source: 'test' }],
          [a, 2, 'imp_b', { n: 3, text: 'tab\there, back\\slash, line\nbreak, "quotes", é, 🎉' }, {}],
        ]);
        expect(events[1]!.eventId).toBe(id);
        expect(events[0]!.position).toBe(result.firstPosition);
        expect(events[2]!.position).toBe(result.lastPosition);
        expect(events[0]!.position).toBeLessThan(events[1]!.position);
        expect(events[1]!.position).toBeLessThan(events[2]!.position);
      });

      it('continues existing streams after their current version', async () => {
        const stream = randomUUID();
        const appended = await t.store.append(stream, [
          { type: 'imp_a', body: { step: 1 } },
          { type: 'imp_a', body: { step: 2 } },
        ]);
        const result = await t.store.importEvents(
          file('existing.ndjson', ndjson([{ stream, type: 'imp_b', body: { step: 3 } }, { stream, type: 'imp_b', body: { step: 4 } }])),
        );
        expect(result).toMatchObject({ imported: 2, skipped: 0, streams: 1 });
        const events = await t.store.readStream(stream);
        expect(events.map((event) => [event.version, event.body])).toEqual([
          [1, { step: 1 }],
          [2, { step: 2 }],
          [3, { step: 3 }],
          [4, { step: 4 }],
        ]);
        expect(result.firstPosition).toBeGreaterThan(appended.events[1]!.position);
        expect(await countsOf(t.store, stream)).toEqual({ events: 4, last_version: 4 });
      });

      it('accepts the events `pgevents read --json` and `tail --json` print, ignoring their positions and versions', async () => {
        const source = randomUUID();
        await t.store.append(source, [
          { type: 'imp_a', body: { n: 1 }, metadata: { by: 'export' } },
          { type: 'imp_b', body: { n: 2 } },
        ]);
        const exported = await t.store.readStream(source);
        const target = randomUUID();
        await t.store.append(target, [{ type: 'imp_a', body: { n: 0 } }]);
        const lines = exported.map((event) => ({ ...event, cursor: `1-${event.position}`, stream: target, eventId: randomUUID() }));
        const result = await t.store.importEvents(file('exported.jsonl', ndjson(lines)));
        expect(result).toMatchObject({ imported: 2, skipped: 0 });
        const events = await t.store.readStream(target);
        expect(events.map((event) => [event.version, event.type, event.body, event.metadata, event.eventId])).toEqual([
          [1, 'imp_a', { n: 0 }, {}, expect.any(String)],
          [2, 'imp_a', { n: 1 }, { by: 'export' }, lines[0]!.eventId],
          [3, 'imp_b', { n: 2 }, {}, lines[1]!.eventId],
        ]);
      });

      it('skips blank lines and reads lines ending in CRLF', async () => {
        const stream = randomUUID();
        const [first, second] = [{ n: 1 }, { n: 2 }].map((body) => JSON.stringify({ stream, type: 'imp_a', body }));
        const text = `\r\n${first}\r\n\n   \n${second}`;
        expect(await t.store.importEvents(file('blank-lines.ndjson', text))).toMatchObject({ imported: 2 });
        expect((await t.store.readStream(stream)).map((event) => event.body)).toEqual([{ n: 1 }, { n: 2 }]);
      });
    });

    describe('CSV', () => {
      it('imports with RFC 4180 quoting: commas, doubled quotes and line breaks in a field; empty optional cells are absent', async () => {
        const [a, b] = [randomUUID(), randomUUID()];
        await t.store.append(b, [{ type: 'imp_a', body: {} }]);
        const id = randomUUID();
        const multiLine = JSON.stringify({ text: 'a, "quoted" b', nested: { list: [1, 2] } }, null, 2);
        const text = [
          'stream,type,body,metadata,id',
          `${a},imp_a,${quoted(multiLine)},,`,
          `${b},imp_b,{},${quoted('{"source": "csv"}')},${id}`,
          `${a},imp_b,${quoted('{"n": 3}')},"",`,
        ].join('\r\n');
        const result = await t.store.importEvents(file('events.csv', `${text}\r\n`));
        expect(result).toMatchObject({ imported: 3, skipped: 0, streams: 2 });
        const events = await eventsOf(t.store, a, b);
        expect(events.map((event) => [event.stream, event.version, event.type, event.body, event.metadata])).toEqual([
          [b, 1, 'imp_a', {}, {}],
          [a, 1, 'imp_a', { text: 'a, "quoted" b', nested: { list: [1, 2] } }, {}],
          [b, 2, 'imp_b', {}, { source: 'csv' }],
          [a, 2, 'imp_b', { n: 3 }, {}],
        ]);
        expect(events[2]!.eventId).toBe(id);
        expect(events[1]!.position).toBe(result.firstPosition);
        expect(events[3]!.position).toBe(result.lastPosition);
      });

      it('takes the columns in any order, uuid for stream and eventId for id, with a byte order mark', async () => {
        const stream = randomUUID();
        const id = randomUUID();
        const text = `\uFEFFbody,eventId,type,uuid\n${quoted('{"n": 1}')},${id},imp_a,${stream}\n`;
        expect(await t.store.importEvents(file('reordered.csv', text))).toMatchObject({ imported: 1 });
        const [event] = await t.store.readStream(stream);
        expect(event).toMatchObject({ type: 'imp_a', body: { n: 1 }, eventId: id, version: 1 });
      });
    });

    describe('projections', () => {
      it('applies them in the import, a batch handler once with all the events in position order', async () => {
        const streams = [randomUUID(), randomUUID(), randomUUID()];
        const before = await lastPosition(t.store);
        const lines = Array.from({ length: 30 }, (_, index) => ({
          stream: streams[index % 3],
          type: index % 2 === 0 ? 'imp_a' : 'imp_b',
          body: { index },
        }));
        const result = await t.store.importEvents(file('projected.ndjson', ndjson(lines)));
        expect(result).toMatchObject({ imported: 30, streams: 3 });
        for (const stream of streams) expect(await countsOf(t.store, stream)).toEqual({ events: 10, last_version: 10 });
        expect(await batchCalls(t.store, before)).toEqual([
          { first_position: result.firstPosition, last_position: result.lastPosition, events: 30 },
        ]);
      });

      it('hands a batch handler an import of more than 10,000 events in batches of 10,000', async () => {
        const streams = Array.from({ length: 50 }, () => randomUUID());
        const before = await lastPosition(t.store);
        const progress: ImportProgress[] = [];
        // A stream of text in pieces that split lines, as a pipe would deliver it.
        const text = ndjson(Array.from({ length: 10_500 }, (_, index) => ({ stream: streams[index % 50], type: 'imp_a', body: { index } })));
        const pieces = Array.from({ length: Math.ceil(text.length / 7_777) }, (_, index) => text.slice(index * 7_777, (index + 1) * 7_777));
        const result = await t.store.importEvents(Readable.from(pieces), {
          format: 'ndjson',
          onProgress: (report) => progress.push({ ...report }),
        });
        expect(result).toMatchObject({ imported: 10_500, skipped: 0, streams: 50 });
        expect(result.lastPosition! - result.firstPosition!).toBeGreaterThanOrEqual(10_499);
        expect(progress.map((report) => [report.phase, report.events])).toEqual([
          ['loading', 10_000],
          ['loading', 10_500],
          ['importing', 10_500],
        ]);
        expect(progress.at(-1)).toMatchObject({ bytes: Buffer.byteLength(text), totalBytes: null });
        const calls = await batchCalls(t.store, before);
        expect(calls.map((call) => call.events)).toEqual([10_000, 500]);
        expect(calls[0]!.first_position).toBe(result.firstPosition);
        expect(calls[1]!.last_position).toBe(result.lastPosition);
        for (const stream of [streams[0]!, streams[49]!]) expect(await countsOf(t.store, stream)).toEqual({ events: 210, last_version: 210 });
      });

      it('stores nothing when a handler raises', async () => {
        const stream = randomUUID();
        const before = await countEvents(t.store);
        const path = file(
          'refused.ndjson',
          ndjson([
            { stream, type: 'imp_a', body: {} },
            { stream, type: 'imp_fail', body: {} },
          ]),
        );
        const error = await rejectionOf(t.store.importEvents(path));
        expect(error).toBeInstanceOf(ProjectionHandlerError);
        expect((error as ProjectionHandlerError).projection).toBe('import_fails');
        expect(await countEvents(t.store)).toBe(before);
        expect(await countsOf(t.store, stream)).toBeUndefined();
      });
    });

    describe('idempotency', () => {
      it('skips events whose id is already stored in their stream: a second run stores nothing, a longer file only the new lines', async () => {
        const streams = [randomUUID(), randomUUID()];
        const lines = Array.from({ length: 5 }, (_, index) => ({ stream: streams[index % 2], type: 'imp_a', body: { index }, id: randomUUID() }));
        const first = await t.store.importEvents(file('ids.ndjson', ndjson(lines)));
        expect(first).toMatchObject({ imported: 5, skipped: 0, streams: 2 });
        const stored = await countEvents(t.store);

        const again = await t.store.importEvents(file('ids.ndjson', ndjson(lines)));
        expect(again).toEqual({ imported: 0, skipped: 5, streams: 2, firstPosition: null, lastPosition: null });
        expect(await countEvents(t.store)).toBe(stored);
        expect(await countsOf(t.store, streams[0]!)).toEqual({ events: 3, last_version: 3 });

        const more = [...lines, { stream: streams[1], type: 'imp_b', body: { index: 5 }, id: randomUUID() }];
        const longer = await t.store.importEvents(file('ids-longer.ndjson', ndjson(more)));
        expect(longer).toMatchObject({ imported: 1, skipped: 5 });
        expect((await t.store.readStream(streams[1]!)).map((event) => [event.version, event.body])).toEqual([
          [1, { index: 1 }],
          [2, { index: 3 }],
          [3, { index: 5 }],
        ]);
      });

      it('fails on an event id stored in another stream, naming the line, and stores nothing', async () => {
        const id = randomUUID();
        const owner = randomUUID();
        await t.store.append(owner, [{ type: 'imp_a', body: {}, id }]);
        const [fresh, other] = [randomUUID(), randomUUID()];
        const before = await countEvents(t.store);
        const path = file(
          'elsewhere.ndjson',
          ndjson([
            { stream: fresh, type: 'imp_a', body: {} },
            { stream: fresh, type: 'imp_a', body: {} },
            { stream: other, type: 'imp_a', body: {}, id },
          ]),
        );
        const error = await rejectionOf(t.store.importEvents(path));
        expect(error).toBeInstanceOf(DuplicateEventError);
        expect(error).toMatchObject({ line: 3, stream: other });
        expect((error as Error).message).toBe(`Duplicate event id on line 3: event ${id} is already stored in stream ${owner}, not in ${other}`);
        expect(await countEvents(t.store)).toBe(before);
        expect(await t.store.readStream(fresh)).toEqual([]);
        expect(await countsOf(t.store, fresh)).toBeUndefined();
      });

      it('fails on an event id repeated in the input, naming both lines, and stores nothing', async () => {
        const id = randomUUID();
        const stream = randomUUID();
        const before = await countEvents(t.store);
        const path = file(
          'repeated.ndjson',
          ndjson([
            { stream, type: 'imp_a', body: {}, id },
            { stream, type: 'imp_a', body: {} },
            { stream, type: 'imp_a', body: {}, id },
          ]),
        );
        const error = await rejectionOf(t.store.importEvents(path));
        expect(error).toBeInstanceOf(DuplicateEventError);
        expect(error).toMatchObject({ line: 3, message: `Duplicate event id on line 3: line 1 has the same event id ${id}` });
        expect(await countEvents(t.store)).toBe(before);
      });

      it('fails on an event id repeated in a later part of the input (a part already stored), and stores nothing', async () => {
        const id = randomUUID();
        const stream = randomUUID();
        const before = await countEvents(t.store);
        const path = file(
          'repeated-parts.ndjson',
          ndjson([
            { stream, type: 'imp_a', body: {}, id },
            { stream, type: 'imp_a', body: {} },
            { stream, type: 'imp_a', body: {} },
            { stream, type: 'imp_a', body: {}, id },
          ]),
        );
        const error = await rejectionOf(t.store.importEvents(path, { batchSize: 2 }));
        expect(error).toBeInstanceOf(DuplicateEventError);
        expect(error).toMatchObject({ line: 4, stream, message: `Duplicate event id on line 4: an earlier line has the same event id ${id}` });
        expect(await countEvents(t.store)).toBe(before);
        expect(await t.store.readStream(stream)).toEqual([]);
      });

      it('skips, part by part, the events an earlier run stored, and counts each stream once', async () => {
        const streams = [randomUUID(), randomUUID()];
        const lines = Array.from({ length: 10 }, (_, index) => ({ stream: streams[index % 2], type: 'imp_a', body: { index }, id: randomUUID() }));
        const first = await t.store.importEvents(file('first-half.ndjson', ndjson(lines.slice(0, 5))), { batchSize: 2 });
        expect(first).toMatchObject({ imported: 5, skipped: 0, streams: 2 });
        const again = await t.store.importEvents(file('all.ndjson', ndjson(lines)), { batchSize: 3 });
        expect(again).toMatchObject({ imported: 5, skipped: 5, streams: 2 });
        expect(again.firstPosition).not.toBeNull();
        const stored = [...(await t.store.readStream(streams[0]!)), ...(await t.store.readStream(streams[1]!))];
        expect(stored.map((event) => (event.body as { index: number }).index).sort((a, b) => a - b)).toEqual(
          Array.from({ length: 10 }, (_, index) => index),
        );
        expect((await t.store.readStream(streams[0]!)).map((event) => event.version)).toEqual([1, 2, 3, 4, 5]);
      });
    });

    describe('bad input', () => {
      const good = () => ({ stream: randomUUID(), type: 'imp_a', body: { ok: true } });

      /** An event line with a fresh stream, changed by `fields` (undefined removes a field). */
      const line = (fields: Record<string, unknown>) => JSON.stringify({ stream: randomUUID(), type: 'imp_a', body: {}, ...fields });

      it.each([
        ['a stream that is not a uuid', line({ stream: 'not-a-uuid' }), 'stream', /stream "not-a-uuid" is not a uuid/],
        ['a line that is not JSON', line({}).slice(0, -1), undefined, /not valid JSON/],
        ['a line that is not an object', '[1, 2]', undefined, /expected a JSON object, not an array/],
        ['a bad type', line({ type: '9 lives' }), 'type', /type "9 lives" is not a valid event type/],
        ['a type longer than 200 characters', line({ type: 't'.repeat(201) }), 'type', /is not a valid event type/],
        ['a missing body', line({ body: undefined }), 'body', /body is missing/],
        ['a body that is not an object', line({ body: [1] }), 'body', /body must be a JSON object, not an array/],
        ['a body holding U+0000', line({ body: { t: 'a\u0000b' } }), 'body', /U\+0000/],
        ['a body holding a lone surrogate', line({ body: { t: '\ud800' } }), 'body', /lone UTF-16 surrogate/],
        ['metadata that is not an object', line({ metadata: 'x' }), 'metadata', /metadata must be a JSON object/],
        ['an id that is not a uuid', line({ id: 42 }), 'id', /id "42" is not a uuid/],
        ['an unknown field', line({ bdy: {} }), 'bdy', /unknown field "bdy"/],
      ])('refuses %s, naming its line, and stores nothing', async (_, bad, field, message) => {
        const before = await countEvents(t.store);
        const path = file('bad.ndjson', `${ndjson([good(), good()])}${bad}\n${ndjson([good()])}`);
        const error = await rejectionOf(t.store.importEvents(path));
        expect(error).toBeInstanceOf(InvalidEventError);
        expect(error).toMatchObject({ code: 'INVALID_EVENT', line: 3, field });
        expect((error as Error).message).toMatch(/^Invalid event on line 3: /);
        expect((error as Error).message).toMatch(message);
        expect(await countEvents(t.store)).toBe(before);
      });

      it('refuses a line that is not UTF-8', async () => {
        const before = await countEvents(t.store);
        const bytes = Buffer.concat([Buffer.from(ndjson([good()])), Buffer.from([0x7b, 0xff, 0x7d, 0x0a])]);
        const error = await rejectionOf(t.store.importEvents(file('latin1.ndjson', bytes)));
        expect(error).toBeInstanceOf(InvalidEventError);
        expect(error).toMatchObject({ line: 2, message: 'Invalid import: line 2 is not valid UTF-8 text' });
        expect(await countEvents(t.store)).toBe(before);
      });

      it('stores nothing when the bad line comes after chunks already loaded, and the store goes on working', async () => {
        const before = await countEvents(t.store);
        const path = file('late.ndjson', `${ndjson(Array.from({ length: 9 }, good))}{"stream": "nope", "type": "imp_a", "body": {}}\n`);
        const error = await rejectionOf(t.store.importEvents(path, { batchSize: 2 }));
        expect(error).toMatchObject({ line: 10, field: 'stream' });
        expect(await countEvents(t.store)).toBe(before);
        const retry = await t.store.importEvents(file('late-fixed.ndjson', ndjson(Array.from({ length: 9 }, good))), { batchSize: 2 });
        expect(retry).toMatchObject({ imported: 9 });
      });

      it.each([
        ['a stream that is not a uuid', () => `nope,imp_a,{}`, 'stream', /^Invalid event on line 5: stream "nope" is not a uuid$/],
        ['a body that is not JSON', (stream: string) => `${stream},imp_a,${quoted('{"a": }')}`, 'body', /^Invalid event on line 5: body is not valid JSON/],
        ['a bad type', (stream: string) => `${stream},imp a,{}`, 'type', /^Invalid event on line 5: type "imp a" is not a valid event type$/],
        ['an empty body', (stream: string) => `${stream},imp_a,`, 'body', /^Invalid event on line 5: body is missing$/],
        ['a row with too few fields', (stream: string) => `${stream},imp_a`, undefined, /^Invalid CSV on line 5: /],
        ['a quote closed too early', (stream: string) => `${stream},imp_a,"{}"x`, undefined, /^Invalid CSV on line 5: /],
      ])('refuses a CSV row with %s, naming its line, and stores nothing', async (_, row, field, message) => {
        const before = await countEvents(t.store);
        const stream = randomUUID();
        // The bad row is on line 5: after the header, a record of two lines and an empty line.
        const text = `stream,type,body\n${stream},imp_a,${quoted('{\n"n": 1}')}\n\n${row(stream)}\n${stream},imp_a,{}\n`;
        const error = await rejectionOf(t.store.importEvents(file('bad.csv', text)));
        expect(error).toBeInstanceOf(InvalidEventError);
        expect(error).toMatchObject({ line: 5, field });
        expect((error as Error).message).toMatch(message);
        expect(await countEvents(t.store)).toBe(before);
      });

      it('refuses a CSV header without a body column, or with an unknown one', async () => {
        const missing = await rejectionOf(t.store.importEvents(file('no-body.csv', `stream,type\n${randomUUID()},imp_a\n`)));
        expect(missing).toMatchObject({ line: 1, field: 'body', message: 'Invalid CSV header on line 1: no body column' });
        const unknown = await rejectionOf(t.store.importEvents(file('unknown.csv', `stream,type,body,when\n${randomUUID()},imp_a,{},now\n`)));
        expect(unknown).toMatchObject({ line: 1, field: 'when', message: 'Invalid event on line 1: unknown field "when"' });
      });

      it('refuses a source it cannot read or whose format it cannot tell', async () => {
        const missing = await rejectionOf(t.store.importEvents(join(dir, 'missing.ndjson')));
        expect(missing).toBeInstanceOf(InvalidArgumentError);
        expect((missing as Error).message).toMatch(/^Cannot read .*missing\.ndjson: ENOENT$/);
        const unknown = await rejectionOf(t.store.importEvents(file('events.txt', ndjson([good()]))));
        expect(unknown).toMatchObject({
          argument: 'format',
          message: expect.stringMatching(/^Cannot tell the format of .*events\.txt from its extension$/),
        });
        expect(await t.store.importEvents(file('events.txt', ndjson([good()])), { format: 'ndjson' })).toMatchObject({ imported: 1 });
        const stream = await rejectionOf(t.store.importEvents(Readable.from([ndjson([good()])])));
        expect(stream).toMatchObject({ argument: 'format', message: 'Cannot tell the format of a stream' });
        const format = await rejectionOf(t.store.importEvents(file('x.ndjson', ''), { format: 'json' as 'ndjson' }));
        expect(format).toMatchObject({ argument: 'format', message: 'Invalid format: "json"' });
      });
    });

    it.each([
      ['an empty NDJSON file', 'empty.ndjson', ''],
      ['an NDJSON file of blank lines', 'blank.ndjson', '\n\n  \n'],
      ['an empty CSV file', 'empty.csv', ''],
      ['a CSV file with only its header', 'header.csv', 'stream,type,body\n'],
    ])('imports nothing from %s', async (_, name, text) => {
      const before = await countEvents(t.store);
      expect(await t.store.importEvents(file(name, text))).toEqual({ imported: 0, skipped: 0, streams: 0, firstPosition: null, lastPosition: null });
      expect(await countEvents(t.store)).toBe(before);
    });

    it('loads a file larger than one COPY chunk, in chunks', async () => {
      const streams = Array.from({ length: 7 }, () => randomUUID());
      const loaded: number[] = [];
      const lines = Array.from({ length: 1_050 }, (_, index) => ({ stream: streams[index % 7], type: 'imp_b', body: { index } }));
      const path = file('chunks.ndjson', ndjson(lines));
      const result = await t.store.importEvents(path, {
        batchSize: 100,
        onProgress: ({ phase, events, bytes, totalBytes }) => {
          if (phase === 'loading') loaded.push(events);
          expect(totalBytes).toBe(Buffer.byteLength(ndjson(lines)));
          expect(bytes).toBeLessThanOrEqual(totalBytes!);
        },
      });
      expect(result).toMatchObject({ imported: 1_050, streams: 7 });
      expect(loaded).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1_000, 1_050]);
      for (const stream of streams) {
        const events = await t.store.readStream(stream);
        expect(events.map((event) => event.version)).toEqual(Array.from({ length: 150 }, (_, index) => index + 1));
        const offset = streams.indexOf(stream);
        expect(events.map((event) => (event.body as { index: number }).index)).toEqual(Array.from({ length: 150 }, (_, index) => index * 7 + offset));
      }
    });

    describe('pgevents import', () => {
      let target: CliTarget;
      let cliDir: string;
      beforeAll(async () => {
        target = await cliTarget(engine);
        cliDir = mkdtempSync(join(tmpdir(), 'pgevents-import-cli-files-'));
      });
      afterAll(async () => {
        await target?.dispose();
        if (cliDir) rmSync(cliDir, { recursive: true, force: true });
      });

      function cliFile(name: string, text: string): string {
        const path = join(cliDir, name);
        writeFileSync(path, text);
        return path;
      }

      it('imports a file and prints the result, as JSON with --json', async () => {
        const stream = randomUUID();
        const path = cliFile(
          'cli.ndjson',
          ndjson([
            { stream, type: 'imp_a', body: { n: 1 }, id: randomUUID() },
            { stream, type: 'imp_a', body: { n: 2 } },
          ]),
        );
        const json = await runCli([...target.args, '--json', 'import', path]);
        expect(json).toMatchObject({ exitCode: 0, stderr: '' });
        expect(JSON.parse(json.stdout)).toEqual({
          imported: 2,
          skipped: 0,
          streams: 1,
          firstPosition: expect.any(Number),
          lastPosition: expect.any(Number),
          seconds: expect.any(Number),
        });
        const human = await runCli([...target.args, 'import', path]);
        expect(human).toMatchObject({ exitCode: 0, stderr: '' });
        expect(human.stdout).toMatch(/^imported 1 event into 1 stream \(1 skipped: already stored\), positions \d+ to \d+ in [\d.]+ s\n$/);
        expect(await target.check((store) => store.readStream(stream))).toHaveLength(3);
      });

      it('takes the format from --format when the extension does not tell it', async () => {
        const stream = randomUUID();
        const path = cliFile('events.txt', `type,stream,body\nimp_a,${stream},{}\n`);
        expect(await runCli([...target.args, 'import', path])).toMatchObject({
          exitCode: 2,
          stderr: expect.stringMatching(/^pgevents: Cannot tell the format of .*events\.txt from its extension\nhint: /),
        });
        const result = await runCli([...target.args, '--json', 'import', path, '--format', 'csv']);
        expect(result.exitCode).toBe(0);
        expect(JSON.parse(result.stdout)).toMatchObject({ imported: 1 });
        expect(await runCli([...target.args, 'import', '-'])).toMatchObject({
          exitCode: 2,
          stderr: expect.stringMatching(/^pgevents: Standard input has no file extension/),
        });
      });

      it('exits 2 for a bad file, naming the line, and stores nothing', async () => {
        const stream = randomUUID();
        const path = cliFile('bad.ndjson', `${ndjson([{ stream, type: 'imp_a', body: {} }])}{"stream": "${stream}", "type": "imp_a", "body": "x"}\n`);
        const human = await runCli([...target.args, 'import', path]);
        expect(human).toMatchObject({ exitCode: 2, stdout: '' });
        expect(human.stderr).toMatch(/^pgevents: Invalid event on line 2: body must be a JSON object, not string\nhint: /);
        const json = await runCli([...target.args, '--json', 'import', path]);
        expect(json.exitCode).toBe(2);
        expect(JSON.parse(json.stdout)).toEqual({
          error: { code: 'INVALID_EVENT', message: 'Invalid event on line 2: body must be a JSON object, not string', hint: expect.any(String) },
        });
        expect(await target.check((store) => store.readStream(stream))).toEqual([]);
      });
    });
  });
}
