import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { PGlite } from '@electric-sql/pglite';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { type EventStore, InvalidEventError, type JsonObject, openEventStore } from '../../src/index.js';
import { findUnstorableText, storedJsonSize } from '../../src/store/validate.js';
import { HttpError, readJsonBody } from '../../src/ui/http.js';
import { runCli } from '../support/cli.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { countEvents, rejectionOf } from './fixtures.js';

/** JSON text of an object whose innermost value, 1, is `depth` levels deep: `{"d":{"d":1}}` is 2. */
function nested(depth: number): string {
  return `${'{"d":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** JSON text of an object of exactly `bytes` bytes as stored (a 17-byte object around a string of ASCII). */
function sized(bytes: number): string {
  const text = JSON.stringify({ s: 'x'.repeat(bytes - 17) });
  expect(storedJsonSize(JSON.parse(text))).toBe(bytes);
  return text;
}

/** A way in: stores one event of type limit_test with the given body and metadata (JSON text). */
type WayIn = (store: EventStore, stream: string, body: string, metadata?: string) => Promise<unknown>;

/** A server-side file for COPY: the server (or the embedded engine) writes and reads it itself. */
function copyFile(): string {
  return `/tmp/pgevents-limits-${randomBytes(6).toString('hex')}.tsv`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Every way an event gets into the store. `sizeByConstraint`: a value over a size limit as it comes
 * in is refused by the events table's check constraint (0001), whose error names the limit only.
 */
const waysIn: { name: string; sizeByConstraint: boolean; store: WayIn }[] = [
  {
    name: 'the TypeScript API (append)',
    sizeByConstraint: false,
    store: (store, stream, body, metadata) =>
      store.append(stream, [
        { type: 'limit_test', body: JSON.parse(body) as JsonObject, ...(metadata ? { metadata: JSON.parse(metadata) as JsonObject } : {}) },
      ]),
  },
  {
    name: 'append_events',
    sizeByConstraint: false,
    store: (store, stream, body, metadata) =>
      store.query(`select * from ${store.schema}.append_events($1, $2::jsonb)`, [
        stream,
        `[{"type": "limit_test", "body": ${body}${metadata ? `, "metadata": ${metadata}` : ''}}]`,
      ]),
  },
  {
    name: 'a plain INSERT',
    sizeByConstraint: true,
    store: (store, stream, body, metadata) =>
      store.query(`insert into ${store.schema}.events (uuid, type, body, metadata) values ($1, 'limit_test', $2::jsonb, $3::jsonb)`, [
        stream,
        body,
        metadata ?? '{}',
      ]),
  },
  {
    name: 'COPY',
    sizeByConstraint: true,
    async store(store, stream, body, metadata) {
      const file = copyFile();
      // COPY takes no parameters: the values go in as literals, written to a file by the server.
      await store.query(`copy (select ${literal(stream)}, 'limit_test', ${literal(body)}, ${literal(metadata ?? '{}')}) to ${literal(file)}`);
      try {
        await store.query(`copy ${store.schema}.events (uuid, type, body, metadata) from ${literal(file)}`);
      } finally {
        await store.query(`copy (select where false) to ${literal(file)}`);
      }
    },
  },
  {
    name: 'import_events',
    sizeByConstraint: false,
    store: (store, stream, body, metadata) =>
      store.transaction(async (tx) => {
        await tx.query(
          'create temporary table limits_staging (ord bigint, uuid uuid, type text, body jsonb, metadata jsonb, event_id uuid) on commit drop',
        );
        await tx.query(`insert into limits_staging values (1, $1, 'limit_test', $2::jsonb, $3::jsonb, null)`, [stream, body, metadata ?? null]);
        return tx.query(`select * from ${store.schema}.import_events('limits_staging')`);
      }),
  },
  {
    name: 'importEvents (NDJSON)',
    sizeByConstraint: false,
    store: (store, stream, body, metadata) =>
      store.importEvents(Readable.from([`{"stream": "${stream}", "type": "limit_test", "body": ${body}${metadata ? `, "metadata": ${metadata}` : ''}}\n`]), {
        format: 'ndjson',
      }),
  },
];

/** The CLI pointed at a store of its own: the server's database, or an embedded data directory. */
interface CliTarget {
  args: string[];
  /** How many events its store holds. */
  events(): Promise<number>;
  dispose(): Promise<void>;
}

async function cliTarget(engine: TestEngine): Promise<CliTarget> {
  if (engine.name === 'server') {
    const t = await engine.createStore();
    return { args: ['--database-url', t.url!], events: () => countEvents(t.store), dispose: () => t.dispose() };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'pgevents-limits-cli-'));
  const pglite = await PGlite.create({ dataDir, loadDataDir: new Blob([readFileSync(inject('pgliteDump'))]) });
  await pglite.close();
  return {
    args: ['--data-dir', dataDir],
    async events() {
      const store = await openEventStore({ dataDir });
      try {
        return await countEvents(store);
      } finally {
        await store.close();
      }
    },
    dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

export default function limitsContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`limits on every way in (${engine.name})`, () => {
    let t: TestStore;
    let before: number;

    beforeAll(async () => {
      t = await engine.createStore();
    });
    afterAll(async () => {
      await t?.dispose();
    });
    beforeEach(async () => {
      before = await countEvents(t.store);
    });

    /** Expects an InvalidEventError with the fields, and nothing stored. */
    async function expectRefused(call: Promise<unknown>, fields: Record<string, unknown>): Promise<InvalidEventError> {
      const error = await rejectionOf(call);
      expect(error).toBeInstanceOf(InvalidEventError);
      expect(error).toMatchObject(fields);
      expect(await countEvents(t.store)).toBe(before);
      return error as InvalidEventError;
    }

    async function expectStored(call: Promise<unknown>, stream: string): Promise<void> {
      await call;
      expect(await t.store.readStream(stream)).toHaveLength(1);
    }

    for (const way of waysIn) {
      describe(way.name, () => {
        it('refuses a body nested 1,001 levels deep, naming the depth, and stores one nested 1,000 levels', async () => {
          const error = await expectRefused(way.store(t.store, randomUUID(), nested(1001)), { field: 'body' });
          expect(error.message).toMatch(/: body is nested 1001 levels deep, more than the limit of 1000\b/);
          const stream = randomUUID();
          await expectStored(way.store(t.store, stream, nested(1000)), stream);
        });

        it('refuses metadata nested 1,001 levels deep, and stores it nested 1,000 levels', async () => {
          const error = await expectRefused(way.store(t.store, randomUUID(), '{}', nested(2345)), { field: 'metadata' });
          expect(error.message).toMatch(/: metadata is nested 2345 levels deep, more than the limit of 1000\b/);
          const stream = randomUUID();
          await expectStored(way.store(t.store, stream, '{}', nested(1000)), stream);
        });

        it('refuses a body of 1 MiB and 1 byte as stored, naming its size, and stores one of 1 MiB', async () => {
          const error = await expectRefused(way.store(t.store, randomUUID(), sized(1024 * 1024 + 1)), { field: 'body' });
          expect(error.message).toMatch(
            way.sizeByConstraint ? /body: it is more than the limit of 1048576 bytes/ : /: body is 1048577 bytes, more than the limit of 1048576\b/,
          );
          const stream = randomUUID();
          await expectStored(way.store(t.store, stream, sized(1024 * 1024)), stream);
        });

        it('refuses metadata of 64 KiB and 1 byte as stored, and stores it at 64 KiB', async () => {
          const error = await expectRefused(way.store(t.store, randomUUID(), '{}', sized(64 * 1024 + 1)), { field: 'metadata' });
          expect(error.message).toMatch(
            way.sizeByConstraint ? /metadata: it is more than the limit of 65536 bytes/ : /: metadata is 65537 bytes, more than the limit of 65536\b/,
          );
          const stream = randomUUID();
          await expectStored(way.store(t.store, stream, '{}', sized(64 * 1024)), stream);
        });
      });
    }

    it('words a refusal in SQL as the TypeScript API does, naming the event and its stream', async () => {
      const way = (name: string) => waysIn.find((candidate) => candidate.name === name)!.store;
      for (const [body, metadata] of [[nested(1234)], ['{}', sized(70_000)]] as [string, string?][]) {
        const stream = randomUUID();
        const fromTs = await expectRefused(way('the TypeScript API (append)')(t.store, stream, body, metadata), { index: 0 });
        const problem = fromTs.message.replace(/^Invalid event at index 0: /, '');
        expect(problem).not.toBe(fromTs.message);
        const fromSql = await expectRefused(way('append_events')(t.store, stream, body, metadata), { index: 0, field: fromTs.field });
        expect(fromSql.message).toBe(`${fromTs.message} (Stream: ${stream})`);
        // Without append_events, the events table's trigger refuses the row: it knows the stream and
        // version. (A value over a size limit as it comes in meets the size constraint first; one
        // copied compressed from the import's staging table does not.)
        for (const name of metadata ? ['import_events'] : ['import_events', 'COPY', 'a plain INSERT']) {
          const fromTrigger = await expectRefused(way(name)(t.store, stream, body, metadata), { field: fromTs.field });
          expect(fromTrigger.message).toBe(`Invalid event: ${problem} (Stream: ${stream}, Version: 1)`);
        }
      }
      expect(await rejectionOf(way('the TypeScript API (append)')(t.store, randomUUID(), nested(1234)))).toHaveProperty(
        'message',
        'Invalid event at index 0: body is nested 1234 levels deep, more than the limit of 1000',
      );
    });

    it('refuses a batch of 10,001 events through the TypeScript API and append_events alike, and stores one of 10,000', async () => {
      const stream = randomUUID();
      const batch = (size: number) => Array.from({ length: size }, (_, index) => ({ type: 'limit_test', body: { index } }));
      const fromTs = await expectRefused(t.store.append(stream, batch(10_001)), { field: 'events' });
      expect(fromTs.message).toBe('Invalid events: a batch holds at most 10000 events, not 10001');
      const fromSql = await expectRefused(
        t.store.query(`select * from ${t.store.schema}.append_events($1, $2::jsonb)`, [stream, JSON.stringify(batch(10_001))]),
        { field: 'events' },
      );
      expect(fromSql.message).toBe(`${fromTs.message} (Stream: ${stream})`);
      await t.store.query(`select * from ${t.store.schema}.append_events($1, $2::jsonb)`, [stream, JSON.stringify(batch(10_000))]);
      expect(await countEvents(t.store)).toBe(before + 10_000);
    });

    it('measures a value copied compressed from another table by its uncompressed size', async () => {
      // 3 MB of one letter: compressed to a few KiB in the source table, which 0001's check measured.
      await t.store.query('create table if not exists public.limits_source (body jsonb)');
      await t.store.query(`insert into public.limits_source select jsonb_build_object('s', repeat('x', 3000000))`);
      const [source] = await t.store.query<{ size: number; compression: string | null }>(
        'select pg_column_size(body) as size, pg_column_compression(body) as compression from public.limits_source',
      );
      expect(source).toMatchObject({ compression: expect.any(String) });
      expect(source!.size).toBeLessThan(1024 * 1024);
      await expectRefused(
        t.store.query(`insert into ${t.store.schema}.events (uuid, type, body) select $1, 'limit_test', body from public.limits_source`, [randomUUID()]),
        { field: 'body' },
      );
      await t.store.query('drop table public.limits_source');
    });

    it('measures sizes as PostgreSQL stores them: the TypeScript measure equals pg_column_size', async () => {
      const numbers = [0, -0, 0.1, 1.5e-7, 5e-324, 1e21, 123456789012345680000, Number.MAX_VALUE, 12345678.9, 1e-6, 99999, 10000, 1e63, 1e64, 1.234e-250];
      const values: unknown[] = numbers.map((n) => ({ n, list: [n, 'é', n, true, null, {}, []] }));
      fc.sample(
        fc.dictionary(fc.string({ unit: 'grapheme' }), fc.jsonValue({ maxDepth: 4 })).filter((value) => findUnstorableText(value) === undefined),
        { numRuns: 300, seed: 12 },
      ).forEach((value) => values.push(value));
      for (const value of values) {
        const json = JSON.stringify(value);
        const [row] = await t.store.query<{ size: number }>('select pg_column_size($1::jsonb) as size', [json]);
        expect({ json, size: Number(row!.size) }).toEqual({ json, size: storedJsonSize(JSON.parse(json)) });
      }
    });

    describe('duplicate keys in JSON text', () => {
      let target: CliTarget;
      let dir: string;
      beforeAll(async () => {
        target = await cliTarget(engine);
        dir = mkdtempSync(join(tmpdir(), 'pgevents-limits-files-'));
      });
      afterAll(async () => {
        await target?.dispose();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      it('pgevents append refuses a body or metadata that names a key twice, naming the key (exit code 2)', async () => {
        const stream = randomUUID();
        const stored = await target.events();
        const body = await runCli([...target.args, 'append', stream, 'limit_test', '{"name": "Ada", "name": "Grace"}']);
        expect(body).toMatchObject({ exitCode: 2, stdout: '' });
        expect(body.stderr).toMatch(/^pgevents: Invalid body: the key "name" appears twice in one object \(in body\)\nhint: /);
        const metadata = await runCli([...target.args, '--json', 'append', stream, 'limit_test', '{}', '--metadata', '{"by": {"id": 1, "id": 2}}']);
        expect(metadata.exitCode).toBe(2);
        expect(JSON.parse(metadata.stdout)).toMatchObject({
          error: { code: 'INVALID_ARGUMENT', message: 'Invalid --metadata: the key "id" appears twice in one object (in metadata.by)' },
        });
        expect(await target.events()).toBe(stored);
        expect(await runCli([...target.args, 'append', stream, 'limit_test', '{"name": "Ada", "names": {"name": 1}}'])).toMatchObject({ exitCode: 0 });
        expect(await target.events()).toBe(stored + 1);
      });

      it('pgevents import refuses an NDJSON line or a CSV cell that names a key twice, naming the line and the key, and stores nothing', async () => {
        const stream = randomUUID();
        const stored = await target.events();
        const ndjson = join(dir, 'dup.ndjson');
        writeFileSync(
          ndjson,
          `{"stream": "${stream}", "type": "limit_test", "body": {}}\n{"stream": "${stream}", "type": "limit_test", "body": {"a": [1, {"b": 1, "b": 2}]}}\n`,
        );
        const fromNdjson = await runCli([...target.args, 'import', ndjson]);
        expect(fromNdjson).toMatchObject({ exitCode: 2, stdout: '' });
        expect(fromNdjson.stderr).toMatch(/^pgevents: Invalid event on line 2: the key "b" appears twice in one object \(in body\.a\[1\]\)\n/);
        const topLevel = join(dir, 'dup-type.ndjson');
        writeFileSync(topLevel, `{"stream": "${stream}", "type": "limit_test", "type": "other", "body": {}}\n`);
        expect((await runCli([...target.args, 'import', topLevel])).stderr).toMatch(
          /^pgevents: Invalid event on line 1: the key "type" appears twice in one object\n/,
        );
        const csv = join(dir, 'dup.csv');
        writeFileSync(csv, `stream,type,body\n${stream},limit_test,{}\n${stream},limit_test,"{""x"": 1, ""x"": 2}"\n`);
        const fromCsv = await runCli([...target.args, 'import', csv]);
        expect(fromCsv.exitCode).toBe(2);
        expect(fromCsv.stderr).toMatch(/^pgevents: Invalid event on line 3: the key "x" appears twice in one object \(in body\)\n/);
        expect(await target.events()).toBe(stored);
      });

      it('importEvents refuses a key named twice with InvalidEventError naming the line and the field', async () => {
        const stream = randomUUID();
        const error = await expectRefused(
          t.store.importEvents(
            Readable.from([`{"stream": "${stream}", "type": "limit_test", "body": {}}\n{"stream": "${stream}", "type": "limit_test", "body": {}, "metadata": {"k": 1, "k": 1}}\n`]),
            { format: 'ndjson' },
          ),
          { line: 2, field: 'metadata' },
        );
        expect(error.message).toBe('Invalid event on line 2: the key "k" appears twice in one object (in metadata)');
      });

      it('the console refuses a request body that names a key twice (400), naming the key', async () => {
        const request = (text: string) => readJsonBody(Readable.from([Buffer.from(text)]) as never);
        const error = await rejectionOf(request('{"to": "start", "to": "end"}'));
        expect(error).toBeInstanceOf(HttpError);
        expect(error).toMatchObject({ status: 400, code: 'BAD_REQUEST', message: 'The request body names the key "to" twice in one object' });
        expect(await rejectionOf(request('{"a": {"x\\"": 1, "x\\"": 2}}'))).toMatchObject({ message: expect.stringContaining('"x\\""') });
        expect(await request('{"to": "start", "more": {"to": "end"}, "list": [{"to": 1}, {"to": 2}], "text": "\\"to\\": 1"}')).toEqual({
          to: 'start',
          more: { to: 'end' },
          list: [{ to: 1 }, { to: 2 }],
          text: '"to": 1',
        });
      });
    });
  });
}
