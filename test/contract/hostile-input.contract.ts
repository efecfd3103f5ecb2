import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type EventStore, InvalidEventError, type NewEvent, PgEventsError } from '../../src/index.js';
import type { TestEngine, TestStore } from '../support/engines.js';
import { countEvents, rejectionOf } from './fixtures.js';

/**
 * Random and adversarial input through the TypeScript API and the SQL API (append_events and
 * define_projection through store.query). Every case either succeeds as documented (what is stored
 * is what JSON.stringify — or jsonb, for SQL text — makes of the input) or fails with a
 * PgEventsError; the event count and the catalogue change only on success; the engine answers
 * `select 1` afterwards. The CLI gets the same treatment in test/server/hostile-cli.test.ts.
 */

const SCHEMA = 'pgevents';
/** A marker placed in bodies: error messages must never repeat event payloads. */
const SECRET = 'pgevents-secret-payload-7c1f';

const NASTY = [
  "'",
  '"',
  ';',
  '--',
  "'; drop table pgevents.events; --",
  '"; drop table pgevents.events; --',
  '$$',
  '\\',
  '\u0000',
  '\ud800',
  '\udfff',
  '\u2028',
  '😀',
  'é',
  ' ',
  '\n',
  '%s',
  '%I',
  '${x}',
  'a'.repeat(64),
  'é'.repeat(32),
];

const nastyString = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.array(fc.constantFrom(...NASTY, 'a', 'b', '_', '.', '(', ')'), { maxLength: 6 }).map((parts) => parts.join('')),
);

const uuidVariants = fc.oneof(
  fc.uuid(),
  fc.uuid().map((uuid) => uuid.toUpperCase()),
  fc.uuid().map((uuid) => `{${uuid}}`),
  fc.uuid().map((uuid) => uuid.replaceAll('-', '')),
  fc.uuid().map((uuid) => `${uuid}\n`),
  fc.uuid().map((uuid) => ` ${uuid}`),
  fc.uuid().map((uuid) => `${uuid}'; drop table pgevents.events; --`),
  fc.constant('00000000-0000-0000-0000-000000000000'),
);

const eventType = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.:/-]{0,30}$/);

function nested(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let n = 0; n < depth; n += 1) value = { d: value };
  return value;
}

function cyclic(): Record<string, unknown> {
  const body: Record<string, unknown> = { name: 'loop' };
  body.self = body;
  return body;
}

class Account {
  balance = 1;
}

/** Bodies (and metadata) from plain JSON to things JSON cannot say. */
const hostileBody = fc.oneof(
  { weight: 5, arbitrary: fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }) },
  {
    weight: 3,
    arbitrary: fc.object({
      maxDepth: 3,
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withSparseArray: true,
      withTypedArray: true,
      withUnicodeString: true,
    }),
  },
  fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e308, 2 ** 53 + 2, 5e-324).map((n) => ({ n })),
  fc.constantFrom(10, 999, 1001, 5000).map((depth) => nested(depth, 1) as Record<string, unknown>),
  fc.constantFrom(1024 * 1024 - 64, 1024 * 1024 + 1, 3 * 1024 * 1024).map((size) => ({ s: 'x'.repeat(size) })),
  fc.constantFrom<unknown>(
    null,
    undefined,
    [],
    [1, 2],
    'body',
    42,
    true,
    new Date(0),
    new Map([['a', 1]]),
    new Account(),
    Object.create(null) as object,
    JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}'),
    { toJSON: () => 'not an object' },
    { toJSON: () => ({ big: 1n }) },
    { nested: { toJSON: () => ({ big: 1n }) } },
    { fn: () => 1, undef: undefined, sym: Symbol('s') },
    { [SECRET]: SECRET, '\u0000': 1 },
    { text: `${SECRET}\u0000` },
    { text: `${SECRET}\ud800` },
  ),
  fc.constant(null).map(() => cyclic()),
);

const hostileEvent = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      {
        type: fc.oneof({ weight: 4, arbitrary: eventType }, nastyString, fc.constantFrom<unknown>('a'.repeat(200), 'a'.repeat(201), '', null, 7)),
        body: fc.oneof({ weight: 3, arbitrary: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }, hostileBody),
        metadata: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, hostileBody),
        id: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, fc.uuid(), uuidVariants, nastyString),
      },
      { requiredKeys: ['type', 'body'] },
    ),
  },
  fc.constantFrom<unknown>(null, 'event', 1, [], new Account()),
);

const hostileBatch = fc.oneof(
  { weight: 8, arbitrary: fc.array(hostileEvent, { minLength: 1, maxLength: 3 }) },
  fc.constantFrom<unknown>([], null, undefined, 'events', {}),
  fc.uuid().map((id) => [
    { type: 'twin', body: {}, id },
    { type: 'twin', body: {}, id },
  ]),
);

const hostileExpected = fc.oneof(
  fc.constantFrom<unknown>(undefined, 'any', 'no_stream', 'stream_exists', -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '1', null, {}, 'ANY'),
  fc.nat(3),
);

const hostileStream = fc.oneof(
  { weight: 5, arbitrary: fc.uuid() },
  { weight: 2, arbitrary: uuidVariants },
  { weight: 2, arbitrary: nastyString },
  fc.constantFrom<unknown>(null, undefined, 42, {}, []),
);

/** What JSON.stringify makes of a value, read back: what a successful append stores. */
function asJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

interface Catalogue {
  triggers: number;
  functions: number;
  relations: number;
  projections: number;
}

export default function hostileInputContract(engine: TestEngine): void {
  describe.skipIf(engine.unavailable !== null)(`hostile input (${engine.name})`, () => {
    let t: TestStore;
    let store: EventStore;
    let catalogueBefore: Catalogue;
    let eventsBefore: number;

    async function catalogue(): Promise<Catalogue> {
      const [row] = await store.query<Record<keyof Catalogue, number>>(
        `select (select count(*) from pg_trigger where tgrelid = '${SCHEMA}.events'::regclass)::int as triggers,
                (select count(*) from pg_proc where pronamespace = '${SCHEMA}'::regnamespace)::int as functions,
                (select count(*) from pg_class where relnamespace = '${SCHEMA}'::regnamespace)::int as relations,
                (select count(*) from ${SCHEMA}.projections)::int as projections`,
      );
      return row!;
    }

    /** The engine still answers. */
    async function alive(): Promise<void> {
      expect(await store.query('select 1 as one')).toEqual([{ one: 1 }]);
    }

    /** Asserts a failure is one of pgevents' own, says something, and repeats no payload. */
    function expectTypedFailure(error: unknown, context: unknown): asserts error is PgEventsError {
      if (!(error instanceof PgEventsError)) {
        throw new Error(`expected a PgEventsError, got ${String(error)} (${(error as { code?: string })?.code}) for ${String(context).slice(0, 300)}`, {
          cause: error,
        });
      }
      expect(error.message.length).toBeGreaterThan(0);
      expect(error.message).not.toContain(SECRET);
    }

    beforeAll(async () => {
      t = await engine.createStore();
      store = t.store;
      await store.execScript(`
        create table public.hostile_rows (uuid uuid, n int);
        create function public.hostile_handler(p_uuid uuid, p_body jsonb) returns void
        language plpgsql set search_path = public, pg_temp
        as $$ begin insert into hostile_rows (uuid, n) values (p_uuid, 1); end; $$;
        create function public.hostile_event_handler(e ${SCHEMA}.events) returns void
        language plpgsql set search_path = public, pg_temp
        as $$ begin insert into hostile_rows (uuid, n) values (e.uuid, 2); end; $$;
        create function public.${'h'.repeat(63)}(p_uuid uuid, p_body jsonb) returns void
        language plpgsql set search_path = public, pg_temp
        as $$ begin null; end; $$;
        create function public.unpinned(p_uuid uuid, p_body jsonb) returns void
        language plpgsql as $$ begin null; end; $$;
        create function public.temp_first(p_uuid uuid, p_body jsonb) returns void
        language plpgsql set search_path = pg_temp, public as $$ begin null; end; $$;
      `);
    });
    afterAll(async () => {
      await t?.dispose();
    });
    beforeEach(async () => {
      catalogueBefore = await catalogue();
      eventsBefore = await countEvents(store);
    });

    describe('appends through the TypeScript API', () => {
      it('store or refuse with a PgEventsError random and adversarial streams, types, bodies, metadata, ids and expected versions', async () => {
        await fc.assert(
          fc.asyncProperty(hostileStream, hostileBatch, hostileExpected, async (stream, batch, expectedVersion) => {
            const before = await countEvents(store);
            let result;
            try {
              result = await store.append(stream as string, batch as NewEvent[], {
                expectedVersion: expectedVersion as never,
              });
            } catch (error) {
              expectTypedFailure(error, JSON.stringify({ stream, expectedVersion }));
              expect(await countEvents(store)).toBe(before);
              return;
            }
            const events = batch as NewEvent[];
            expect(result.events).toHaveLength(events.length);
            expect(await countEvents(store)).toBe(before + events.length);
            const stored = await store.readStream(stream as string);
            for (const [index, appended] of result.events.entries()) {
              const event = stored.find((candidate) => candidate.eventId === appended.eventId);
              expect(event?.type).toBe(events[index]!.type);
              expect(event?.body).toEqual(asJson(events[index]!.body));
              expect(event?.metadata).toEqual(events[index]!.metadata === undefined ? {} : asJson(events[index]!.metadata));
            }
          }),
          { numRuns: 120 },
        );
        expect(await catalogue()).toEqual(catalogueBefore);
        await alive();
      });

      it('refuses what JSON cannot round-trip before it reaches the engine: NaN, ±Infinity, BigInt, U+0000, lone surrogates, deep nesting', async () => {
        const stream = randomUUID();
        for (const body of [
          { n: Number.NaN },
          { n: Number.POSITIVE_INFINITY },
          { n: 10n },
          { s: 'a\u0000b' },
          { ['k\u0000']: 1 },
          { s: '\ud800' },
          { s: 'x\udc00' },
          nested(1001, 1),
          cyclic(),
          { nested: { toJSON: () => ({ big: 1n }) } },
        ]) {
          const error = await rejectionOf(store.append(stream, [{ type: 'hostile', body: body as never }]));
          expect(error, JSON.stringify(Object.keys(body as object))).toBeInstanceOf(InvalidEventError);
        }
        expect(await countEvents(store)).toBe(eventsBefore);
      });

      it('stores -0 as 0 and a number JSON renders with an exponent as the same number', async () => {
        const stream = randomUUID();
        await store.append(stream, [{ type: 'hostile', body: { zero: -0, big: 1e21, tiny: 5e-324, max: Number.MAX_VALUE } }]);
        const [event] = await store.readStream(stream);
        expect(Object.is(event!.body.zero, 0)).toBe(true);
        expect(event!.body).toEqual({ zero: 0, big: 1e21, tiny: 5e-324, max: Number.MAX_VALUE });
      });
    });

    describe('appends through the SQL API (append_events via store.query)', () => {
      const big = (depth: number) => `${'{"d":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const rawBatches = [
        '[{"type": "dup", "type": "hostile", "body": {"a": 1, "a": 2}, "body": {"b": 3}}]',
        '[{"type": "hostile", "body": {"n": 1e400, "z": -0, "f": -0.0, "big": 123456789012345678901234567890.5, "e": 1E-400}}]',
        '[{"type": "hostile", "body": {"s": "\\u0000"}}]',
        '[{"type": "hostile", "body": {"s": "\\ud800"}}]',
        '[{"type": "hostile", "body": {"s": "\\udc00\\ud800"}}]',
        '[{"type": "hostile", "body": {"s": "\\ud83d\\ude00 ok"}}]',
        `[{"type": "hostile", "body": {"s": "${SECRET}\\ud800"}}]`,
        `[{"type": "hostile", "body": ${big(2000)}}]`,
        '[{"type": "hostile", "body": {}}',
        '[{"type": "hostile", "body": {}}] trailing',
        '{}',
        '[]',
        'null',
        '[null]',
        '[1]',
        '"[]"',
        '[{"type": 1, "body": {}}]',
        '[{"type": "hostile", "body": []}]',
        '[{"type": "hostile", "body": null}]',
        '[{"type": "hostile"}]',
        '[{"type": "hostile", "body": {}, "metadata": []}]',
        '[{"type": "hostile", "body": {}, "metadata": null}]',
        '[{"type": "hostile", "body": {}, "id": "nope"}]',
        '[{"type": "hostile", "body": {}, "id": 123}]',
        '[{"type": "hostile", "body": {}, "id": "{11111111-1111-1111-1111-111111111111}"}]',
        `[{"type": "t'; drop table ${SCHEMA}.events; --", "body": {}}]`,
        `[{"type": "${'a'.repeat(201)}", "body": {}}]`,
        '[{"type": "hostile", "body": {}, "id": "22222222-2222-2222-2222-222222222222"}, {"type": "hostile", "body": {}, "id": "22222222-2222-2222-2222-222222222222"}]',
        'not json at all',
        '',
      ];
      const sqlEvent = fc.record(
        {
          type: fc.oneof({ weight: 3, arbitrary: eventType }, nastyString),
          body: fc.oneof({ weight: 3, arbitrary: fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }) }, fc.jsonValue({ maxDepth: 2 })),
          metadata: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, fc.jsonValue({ maxDepth: 2 })),
          id: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, fc.uuid(), nastyString),
        },
        { requiredKeys: ['type', 'body'] },
      );
      const rawEvents = fc.oneof(
        { weight: 5, arbitrary: fc.array(sqlEvent, { maxLength: 3 }).map((events) => JSON.stringify(events)) },
        { weight: 3, arbitrary: fc.constantFrom(...rawBatches) },
        nastyString,
        fc.constant(null),
      );
      const rawStream = fc.oneof({ weight: 4, arbitrary: fc.uuid() }, uuidVariants, nastyString, fc.constant(null));
      const rawExpected = fc.oneof(
        fc.constantFrom('any', 'no_stream', 'stream_exists', '0', '1', '-1', '1e3', '', ' 1', '99999999999999999999', '999999999999999999', 'ANY', "'; drop", null),
        nastyString,
      );

      it('store or refuse with a PgEventsError random and adversarial stream ids, JSON texts and expected versions', async () => {
        await fc.assert(
          fc.asyncProperty(rawStream, rawEvents, rawExpected, async (stream, events, expected) => {
            const before = await countEvents(store);
            let rows: { event_id: string; version: unknown }[];
            try {
              rows = await store.query(`select event_id::text, version from ${SCHEMA}.append_events($1::uuid, $2::jsonb, $3)`, [
                stream,
                events,
                expected,
              ]);
            } catch (error) {
              expectTypedFailure(error, JSON.stringify({ stream, events: events?.slice(0, 200), expected }));
              expect(await countEvents(store)).toBe(before);
              return;
            }
            const [shape] = await store.query<{ n: number }>(`select jsonb_array_length($1::jsonb) as n`, [events]);
            expect(rows).toHaveLength(shape!.n);
            expect(await countEvents(store)).toBe(before + rows.length);
            // What is stored is what jsonb makes of the text (duplicate keys: the last wins).
            for (const [index, row] of rows.entries()) {
              const [same] = await store.query<{ same: boolean }>(
                `select e.body = ($1::jsonb -> $2::int -> 'body')
                    and e.metadata = coalesce($1::jsonb -> $2::int -> 'metadata', '{}') as same
                   from ${SCHEMA}.events e where e.event_id = $3::uuid`,
                [events, index, row.event_id],
              );
              expect(same).toEqual({ same: true });
            }
          }),
          { numRuns: 120 },
        );
        expect(await catalogue()).toEqual(catalogueBefore);
        await alive();
      });

      it('keeps the last of duplicate keys, numbers beyond double range exactly, and -0 as 0', async () => {
        const stream = randomUUID();
        await store.query(`select * from ${SCHEMA}.append_events($1, $2::jsonb)`, [
          stream,
          '[{"type": "hostile", "body": {"a": 1, "a": 2, "n": 1e400, "z": -0}}]',
        ]);
        const [row] = await store.query<{ a: string; n: string; z: string }>(
          `select body ->> 'a' as a, body ->> 'n' as n, body ->> 'z' as z from ${SCHEMA}.events where uuid = $1`,
          [stream],
        );
        expect(row).toEqual({ a: '2', n: `1${'0'.repeat(400)}`, z: '0' });
        // JavaScript cannot hold 1e400: read through the TypeScript API it is Infinity (see docs/security.md).
        const [event] = await store.readStream(stream);
        expect(event!.body.n).toBe(Number.POSITIVE_INFINITY);
      });

      it('refuses a body larger than 1 MiB as stored, however it was sent', async () => {
        const incompressible = Array.from({ length: 1200 * 1024 / 32 }, () => randomUUID().replaceAll('-', '')).join('');
        const error = await rejectionOf(
          store.query(`select * from ${SCHEMA}.append_events($1, $2::jsonb)`, [
            randomUUID(),
            JSON.stringify([{ type: 'hostile', body: { s: incompressible } }]),
          ]),
        );
        expect(error).toBeInstanceOf(InvalidEventError);
        expect(error).toMatchObject({ field: 'body' });
        expect(await countEvents(store)).toBe(eventsBefore);
      });
    });

    describe('projection names, handler names and tables', () => {
      const projectionName = fc.oneof(
        { weight: 3, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_]{0,39}$/) },
        nastyString,
        fc.constantFrom<unknown>(
          'a'.repeat(40),
          'a'.repeat(41),
          `${'p'.repeat(62)}a`,
          `${'p'.repeat(62)}b`,
          'Users',
          '1users',
          `users; drop table ${SCHEMA}.events`,
          'users"',
          "users'",
          'users\n',
          '',
          null,
          42,
        ),
      );
      const handlerName = fc.oneof(
        {
          weight: 4,
          arbitrary: fc.constantFrom(
            'public.hostile_handler',
            'hostile_handler',
            'public.hostile_handler(uuid, jsonb)',
            'public.hostile_handler(uuid,jsonb)',
            `public.hostile_event_handler(${SCHEMA}.events)`,
            'public.hostile_event_handler',
            'public."hostile_handler"',
            'PUBLIC.HOSTILE_HANDLER',
            `public.${'h'.repeat(63)}`,
            // 63 bytes and more name the same function: PostgreSQL truncates identifiers.
            `public.${'h'.repeat(63)}tail`,
          ),
        },
        fc.constantFrom(
          `public.hostile_handler; drop table ${SCHEMA}.events; --`,
          'public.hostile_handler(uuid, jsonb); drop table public.hostile_rows; --',
          '"a(uuid, jsonb)',
          'a(',
          'a.b.c.d',
          'pg_catalog.now',
          'public.hostile_handler(no_such_type)',
          'public.hostile_handler(text)',
          'public.unpinned',
          'public.temp_first',
          'public.no_such_function',
          '',
          ' ',
        ),
        nastyString,
        fc.constantFrom<unknown>(null, 42, {}, []),
      );
      const handlers = fc.oneof(
        { weight: 5, arbitrary: fc.dictionary(fc.oneof({ weight: 3, arbitrary: eventType }, nastyString), handlerName, { minKeys: 1, maxKeys: 3 }) },
        fc.constantFrom<unknown>(null, [], 'public.hostile_handler', {}),
      );
      const tables = fc.oneof(
        fc.constant<unknown>(undefined),
        fc.constant<unknown>(['public.hostile_rows']),
        fc.array(
          fc.oneof(
            fc.constantFrom('public.hostile_rows', 'hostile_rows', 'x; drop table y', 'a.b.c.d', '', 'public."hostile_rows"', `${SCHEMA}.events`, `${SCHEMA}.streams`),
            nastyString,
          ),
          { maxLength: 2 },
        ),
        fc.constantFrom<unknown>('public.hostile_rows', 42, null),
      );
      const streamColumn = fc.oneof(fc.constant<unknown>(undefined), fc.constantFrom<unknown>('uuid', 'n', 'uuid; drop', '', 42), nastyString);

      it('define, or refuse with a PgEventsError, random and adversarial projections; the catalogue changes only on success', async () => {
        await fc.assert(
          fc.asyncProperty(
            projectionName,
            handlers,
            tables,
            streamColumn,
            fc.boolean(),
            async (name, handlerMap, tableList, column, throughSql) => {
              const before = await catalogue();
              try {
                if (throughSql) {
                  await store.query(`select ${SCHEMA}.define_projection($1, $2::jsonb, $3::text[], $4)`, [
                    name,
                    JSON.stringify(handlerMap ?? null),
                    Array.isArray(tableList) ? tableList : tableList === undefined ? [] : [tableList],
                    column ?? null,
                  ]);
                } else {
                  await store.defineProjection({
                    name: name as string,
                    handlers: handlerMap as Record<string, string>,
                    ...(tableList === undefined ? {} : { tables: tableList as string[] }),
                    ...(column === undefined ? {} : { streamColumn: column as string }),
                  });
                }
              } catch (error) {
                expectTypedFailure(error, JSON.stringify({ name, handlerMap, tableList, column, throughSql }));
                expect(await catalogue()).toEqual(before);
                return;
              }
              const after = await catalogue();
              expect(after).toEqual({ ...before, triggers: before.triggers + 1, functions: before.functions + 2, projections: before.projections + 1 });
              const defined = await store.query<{ handler: string }>(
                `select h.handler from ${SCHEMA}.projection_handlers h where h.projection = $1`,
                [name],
              );
              for (const { handler } of defined) {
                expect(['public.hostile_handler(uuid, jsonb)', `public.hostile_event_handler(${SCHEMA}.events)`, `public.${'h'.repeat(63)}(uuid, jsonb)`]).toContain(handler);
              }
              await store.dropProjection(name as string);
              expect(await catalogue()).toEqual(before);
            },
          ),
          { numRuns: 120 },
        );
        expect(await countEvents(store)).toBe(eventsBefore);
        await alive();
      });

      it('refuses a replay, a drop or a grant naming something hostile with a PgEventsError', async () => {
        await fc.assert(
          fc.asyncProperty(projectionName, nastyString, async (name, role) => {
            for (const call of [
              () => store.replay(name as string),
              () => store.dropProjection(name as string),
              () => store.query(`select ${SCHEMA}.replay_projection($1)`, [name]),
              () => store.grant({ writers: [role] }),
              () => store.grant({ readers: [`${role}${'r'.repeat(70)}`] }),
            ]) {
              expectTypedFailure(await rejectionOf(call()), JSON.stringify({ name, role }));
            }
          }),
          { numRuns: 40 },
        );
        expect(await catalogue()).toEqual(catalogueBefore);
        expect(await store.query(`select count(*)::int as n from ${SCHEMA}.roles`)).toEqual([{ n: 0 }]);
        await alive();
      });

      it('refuses the store\'s own tables as read-model tables', async () => {
        for (const table of [`${SCHEMA}.events`, `${SCHEMA}.streams`, `${SCHEMA}.projections`]) {
          const error = await rejectionOf(
            store.defineProjection({ name: 'own_tables', handlers: { hostile: 'public.hostile_handler' }, tables: [table] }),
          );
          expect(error, table).toBeInstanceOf(PgEventsError);
        }
        expect(await catalogue()).toEqual(catalogueBefore);
      });
    });
  });
}
