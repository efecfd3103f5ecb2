import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidEventError } from '../../src/errors.js';
import { appendRequest } from '../../src/store/append.js';
import { newEventId } from '../../src/store/event-id.js';
import {
  checkEvents,
  checkJsonObject,
  findUnstorableText,
  type JsonProblem,
  jsonDepth,
  MAX_JSON_DEPTH,
  storedSizeIfLarge,
  TOO_DEEP,
} from '../../src/store/validate.js';

// No database: the checks of a body or metadata, which write the JSON of plain data once and read
// its text, against the walk they replaced (as it was before, kept here as the reference).
function checkByWalk(value: object, field: 'body' | 'metadata', maxBytes: number): { json: string } | JsonProblem {
  let unstorable: string | undefined;
  let json: string;
  try {
    unstorable = findUnstorableText(value);
    if (unstorable !== undefined && unstorable !== TOO_DEEP) {
      return { problem: `${field} contains ${unstorable}, which PostgreSQL cannot store` };
    }
    json = JSON.stringify(value);
  } catch (error) {
    return { problem: `${field} cannot be written as JSON`, cause: error };
  }
  if (!json.startsWith('{')) return { problem: `${field} must be a JSON object, but its toJSON returns something else` };
  if (unstorable === TOO_DEEP) {
    return {
      problem: `${field} is nested ${jsonDepth(JSON.parse(json))} levels deep, more than the limit of ${MAX_JSON_DEPTH}`,
      hint: `Flatten the JSON: at most ${MAX_JSON_DEPTH} levels of objects and arrays.`,
    };
  }
  const bytes = storedSizeIfLarge(json, maxBytes);
  if (bytes !== null && bytes > maxBytes) {
    return {
      problem: `${field} is ${bytes} bytes, more than the limit of ${maxBytes}`,
      hint: 'Store large payloads elsewhere and put a reference in the event.',
    };
  }
  return { json };
}

/** A result with its cause as class and message, which is what can be compared. */
function comparable(result: { json: string } | JsonProblem): unknown {
  if (!('problem' in result)) return result;
  const { cause, ...rest } = result;
  return cause instanceof Error ? { ...rest, cause: [cause.constructor.name, cause.message] } : { ...rest, cause };
}

class Point {
  constructor(
    readonly x: number,
    readonly label: string,
  ) {}
}

// Strings that matter to the checks and to JSON's escapes, among arbitrary ones.
const oddText = fc.constantFrom('', '\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\ud83d\ude00', '\u001f', '\\u0000', '\\', '"', '\u2028', 'é', 'toJSON', 'null');
const text = fc.oneof(oddText, fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ maxLength: 12 }));

// Values JSON cannot say as they are, or that a walk and JSON.stringify see differently.
const unusual = fc.constantFrom<() => unknown>(
  () => undefined,
  () => () => 1,
  () => Symbol('s'),
  () => Number.NaN,
  () => Number.POSITIVE_INFINITY,
  () => Number.NEGATIVE_INFINITY,
  () => 10n,
  () => new Date(0),
  () => new Map([['a', 1]]),
  () => new Set([1]),
  () => new Point(1, 'p'),
  () => new Point(Number.NaN, 'a\u0000'),
  () => Object.assign(Object.create(null) as object, { a: 1 }),
  () => ({ toJSON: () => ({ a: 1 }) }),
  () => ({ toJSON: () => 'text', hidden: 'a\u0000' }),
  () => ({ toJSON: () => 1n }),
  () => ({ toJSON: 1, a: 'b' }),
  () => new Number(Number.NaN),
  () => Object.assign(new String('a\u0000'), {}),
  () => Object.assign(new Number(2), { hidden: '\ud800' }),
  () => ({ '\u0000': undefined }),
  () => ({ '\ud800': () => 1 }),
  () => [1, , 3],
  () => [undefined, Number.NaN],
  () => ({
    get broken(): never {
      throw new Error('getter failed');
    },
  }),
  () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    return cycle;
  },
  () => new Uint8Array([1, 2]),
);

const leaf = fc.oneof(
  { weight: 4, arbitrary: text },
  { weight: 2, arbitrary: fc.double() },
  { weight: 2, arbitrary: fc.integer() },
  fc.boolean(),
  fc.constant(null),
  { weight: 2, arbitrary: unusual.map((make) => make()) },
);

const { value: jsonish } = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(text, tie('value'), { maxKeys: 4, noNullPrototype: false }),
}));

const topLevel = fc.dictionary(text, jsonish, { maxKeys: 5, noNullPrototype: false });

// A chain of objects and arrays around a leaf, about as deep as the limit.
const deep = fc
  .record({
    depth: fc.integer({ min: MAX_JSON_DEPTH - 5, max: MAX_JSON_DEPTH + 5 }),
    arrays: fc.array(fc.boolean(), { minLength: 1, maxLength: 6 }),
    key: text,
    leaf: fc.oneof(leaf, fc.constantFrom<unknown>({}, [], 'x')),
  })
  .map(({ depth, arrays, key, leaf: inner }) => {
    let item: unknown = inner;
    for (let level = 0; level < depth; level++) item = arrays[level % arrays.length] ? [item] : { [key]: item };
    return { [key]: item } as Record<string, unknown>;
  });

// Sizes small enough that ordinary values reach them, so both measure.
const maxBytes = fc.oneof(fc.integer({ min: 4, max: 600 }), fc.constant(64 * 1024));

describe('the checks of a body or metadata', () => {
  it('accept and refuse random JSON-ish values as the walk did, with the same text, problem, hint and cause', () => {
    fc.assert(
      fc.property(topLevel, fc.constantFrom('body' as const, 'metadata' as const), maxBytes, (value, field, max) => {
        expect(comparable(checkJsonObject(value, field, max))).toEqual(comparable(checkByWalk(value, field, max)));
      }),
      { numRuns: 3000 },
    );
  });

  it('accept and refuse values nested about as deep as the limit as the walk did', () => {
    fc.assert(
      fc.property(deep, maxBytes, (value, max) => {
        expect(comparable(checkJsonObject(value, 'body', max))).toEqual(comparable(checkByWalk(value, 'body', max)));
      }),
      { numRuns: 300 },
    );
  });

  it('accept and refuse big strings about the size limit as the walk did', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 60 * 1024, max: 70 * 1024 }),
        fc.constantFrom('a', 'é', '😀', '\u0000', '\ud800', '\\'),
        fc.integer({ min: 0, max: 3 }),
        (length, unit, at) => {
          const big = 'x'.repeat(length - 1);
          const value = { text: `${big.slice(0, at)}${unit}${big.slice(at)}` };
          const max = 64 * 1024;
          expect(comparable(checkJsonObject(value, 'metadata', max))).toEqual(comparable(checkByWalk(value, 'metadata', max)));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('still walk a value when Object.prototype has a toJSON, which JSON.stringify would call', () => {
    const prototype = Object.prototype as { toJSON?: unknown };
    prototype.toJSON = () => 'not an object';
    try {
      const value = { name: 'x' };
      expect(checkJsonObject(value, 'body', 1024)).toEqual(checkByWalk(value, 'body', 1024));
      expect(checkJsonObject(value, 'body', 1024)).toEqual({
        problem: 'body must be a JSON object, but its toJSON returns something else',
      });
    } finally {
      delete prototype.toJSON;
    }
  });

  it('refuse with an InvalidEventError naming the index, as the walk worded it', () => {
    fc.assert(
      fc.property(topLevel, (body) => {
        const expected = checkByWalk(body, 'body', 1024 * 1024);
        const events = [{ type: 'ok', body: {} }, { type: 'user_update', body }];
        if ('problem' in expected) {
          const error = (() => {
            try {
              checkEvents(events);
            } catch (caught) {
              return caught;
            }
            return undefined;
          })();
          expect(error).toBeInstanceOf(InvalidEventError);
          expect(error).toMatchObject({ code: 'INVALID_EVENT', field: 'body', index: 1, message: `Invalid event at index 1: ${expected.problem}` });
        } else {
          expect(checkEvents(events)[1]?.body).toBe(expected.json);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('the request of an append', () => {
  it('holds what stringifying the whole batch held', () => {
    const event = fc.record(
      {
        type: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.:/-]{0,20}$/),
        body: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
        metadata: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })),
        id: fc.uuid(),
      },
      { requiredKeys: ['type', 'body', 'id'] },
    );
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 8 }), (events) => {
        const request = appendRequest(checkEvents(events));
        const sent = events.map((e) => ({ type: e.type, body: e.body, ...(e.metadata === undefined ? {} : { metadata: e.metadata }), id: e.id }));
        expect(JSON.parse(request)).toEqual(JSON.parse(JSON.stringify(sent)));
      }),
      { numRuns: 500 },
    );
  });

  it('gives the events without an id fresh ids, in increasing order', () => {
    const request = appendRequest(checkEvents(Array.from({ length: 100 }, () => ({ type: 't', body: { a: 1 } }))));
    const ids = (JSON.parse(request) as { id: string }[]).map((event) => event.id);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(100);
  });
});

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const timestampOf = (id: string): number => Number.parseInt(id.replace('-', '').slice(0, 12), 16);

describe('event ids', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('are UUIDs of version 7 and variant 10 whose timestamp is the clock', () => {
    const before = Date.now();
    const ids = Array.from({ length: 1000 }, () => newEventId());
    const after = Date.now();
    for (const id of ids) {
      expect(id).toMatch(UUID_V7);
      expect(timestampOf(id)).toBeGreaterThanOrEqual(before);
      expect(timestampOf(id)).toBeLessThanOrEqual(after + 1);
    }
  });

  it('increase, even past 4,096 in one millisecond, when the timestamp moves ahead of the clock', () => {
    const now = Date.now() + 60_000;
    vi.spyOn(Date, 'now').mockReturnValue(now);
    const ids = Array.from({ length: 10_000 }, () => newEventId());
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(ids.length);
    expect(timestampOf(ids[0]!)).toBe(now);
    expect(timestampOf(ids.at(-1)!)).toBeGreaterThan(now);
    expect(timestampOf(ids.at(-1)!)).toBeLessThanOrEqual(now + 5);
  });

  it('come back to the clock when it was set back more than 10 seconds', () => {
    const now = Date.now() + 120_000;
    vi.spyOn(Date, 'now').mockReturnValue(now);
    newEventId();
    vi.spyOn(Date, 'now').mockReturnValue(now - 20_000);
    expect(timestampOf(newEventId())).toBe(now - 20_000);
  });
});
