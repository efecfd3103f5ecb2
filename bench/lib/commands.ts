/**
 * What `store.handle` costs (issue 14): commands per second, each folding its stream (10 events: a
 * create and updates), deciding and appending one event with the folded version as the expected
 * version, sequentially and from 8 concurrent callers on their own streams, against `store.append`
 * of the same event with no fold. Then what a snapshot kept by the database costs an append (one
 * kept at every event), and the fold of a 1,000-event stream, live and from snapshots (every
 * event; every 64 events, so 40 newer events to fold). And what tracing costs an append (issue
 * 17): the OpenTelemetry API's no-op tracer (no SDK registered) against an SDK that records every
 * span into memory. And what encrypting personal data costs an append (issue 15): two fields of a
 * declared type against the same event before any declaration. Server, TypeScript API.
 */
import { randomUUID } from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { CommandHandler, EventStore } from '../../src/index.js';
import { median, quantile } from './stats.js';

type UserEvent = { type: 'user_create'; body: { name: string } } | { type: 'user_update'; body: { name: string } };
type User = { name: string | null; renames: number };
const users: CommandHandler<User, UserEvent, { name: string }> = {
  initial: () => ({ name: null, renames: 0 }),
  evolve: (state, event) => ({ name: event.body.name, renames: event.type === 'user_update' ? state.renames + 1 : state.renames }),
  decide: (command, state) =>
    state.name === null ? [{ type: 'user_create', body: { name: command.name } }] : [{ type: 'user_update', body: { name: command.name } }],
};

export interface CommandRound {
  callers: number;
  handlePerSecond: number;
  appendPerSecond: number;
}

export interface FoldTiming {
  what: string;
  p50Ms: number;
  p99Ms: number;
  /** The snapshot version the fold started from (null: a live fold). */
  snapshotVersion: number | null;
}

export interface CommandMeasurement {
  seconds: number;
  rounds: CommandRound[];
  /** Appends per second of the same workload without a snapshot, with one kept every 64 events, and at every event. */
  snapshotAppend: { without: number; with: number; every64?: number };
  folds: FoldTiming[];
  /** Appends per second with the API's no-op tracer and with spans recorded into memory, alternated. */
  tracing: { noop: number[]; recorded: number[] };
  /**
   * Appends per second of an event with two personal fields (issue 15): before any declaration
   * (`plain`), then of a declared type, encrypted with its stream's key (`declared`), and of an
   * undeclared type in the same store, which the encrypting trigger now looks at (`undeclared`).
   */
  personalData?: { plain: number[]; declared: number[]; undeclared: number[] };
}

/** Calls per second of `call` from `callers` concurrent callers, each on streams of 10 events of its own. */
async function rate(seconds: number, callers: number, call: (stream: string, n: number) => Promise<unknown>): Promise<number> {
  let done = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      let stream = randomUUID();
      for (let n = 0; Date.now() < end; n++) {
        if (n % 10 === 0) stream = randomUUID();
        await call(stream, n);
        done += 1;
      }
    }),
  );
  return done / seconds;
}

/** Measures on a migrated, empty store (it defines a function in public and two snapshots). */
export async function measureCommands(
  store: EventStore,
  options: { seconds: number; rounds: number },
  log: (line: string) => void,
): Promise<CommandMeasurement> {
  const { seconds } = options;
  const handle = (stream: string, n: number) => store.handle(stream, users, { name: `user ${n}` });
  const append = (stream: string, n: number) =>
    store.append(stream, [{ type: n % 10 === 0 ? 'user_create' : 'user_update', body: { name: `user ${n}` } }]);
  const rounds: CommandRound[] = [];
  for (const callers of [1, 8]) {
    for (let round = 1; round <= options.rounds; round++) {
      const handlePerSecond = await rate(seconds, callers, handle);
      const appendPerSecond = await rate(seconds, callers, append);
      rounds.push({ callers, handlePerSecond, appendPerSecond });
      log(
        `  ${callers === 1 ? 'sequential' : `${callers} callers`}, round ${round}: store.handle ${handlePerSecond.toFixed(0)} commands/s, ` +
          `store.append ${appendPerSecond.toFixed(0)} appends/s (${(handlePerSecond / appendPerSecond).toFixed(2)}×)`,
      );
    }
  }

  const without = await rate(seconds, 1, append);
  await store.execScript(`
    create function public.user_state_evolve(state jsonb, event ${store.schema}.events) returns jsonb
    language sql immutable
    as $$ select jsonb_build_object('name', event.body ->> 'name',
                                    'renames', (state ->> 'renames')::int + (event.type = 'user_update')::int) $$`);
  const snapshot = { evolve: 'public.user_state_evolve', types: ['user_create', 'user_update'], initial: { name: null, renames: 0 } };
  await store.defineSnapshot({ name: 'user_64', ...snapshot, every: 64 });
  const every64 = await rate(seconds, 1, append);
  log(`  append with a snapshot kept every 64 events: ${every64.toFixed(0)} appends/s vs ${without.toFixed(0)} without (${(every64 / without).toFixed(2)}×)`);
  await store.dropSnapshot('user_64');
  await store.defineSnapshot({ name: 'user_every', ...snapshot, every: 1 });
  const withSnapshot = await rate(seconds, 1, append);
  log(`  append with a snapshot kept at every event: ${withSnapshot.toFixed(0)} appends/s vs ${without.toFixed(0)} without (${(withSnapshot / without).toFixed(2)}×)`);
  await store.defineSnapshot({ name: 'user_64', ...snapshot, every: 64 });
  // Defined over stored events: aggregates ignore them until they are built.
  await store.rebuild('user_every');
  await store.rebuild('user_64');

  // 125 appends of 8 events: the snapshot every 64 events is written at version 960.
  const long = randomUUID();
  for (let batch = 0; batch < 125; batch++) {
    await store.append(long, Array.from({ length: 8 }, (_, n) => ({ type: batch + n === 0 ? 'user_create' : 'user_update', body: { name: `user ${n}` } })));
  }
  const folds: FoldTiming[] = [];
  for (const [what, fold] of [
    ['live fold', users],
    ['from the snapshot of every event (0 newer events)', { ...users, snapshot: 'user_every' }],
    ['from the snapshot every 64 events (40 newer events)', { ...users, snapshot: 'user_64' }],
  ] as const) {
    for (let i = 0; i < 20; i++) await store.aggregate(long, fold);
    const times: number[] = [];
    for (let i = 0; i < 200; i++) {
      const started = performance.now();
      await store.aggregate(long, fold);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const { snapshotVersion } = await store.aggregate(long, fold);
    const timing = { what, p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99), snapshotVersion };
    folds.push(timing);
    log(`  ${what} of a 1,000-event stream: p50 ${timing.p50Ms.toFixed(2)} ms, p99 ${timing.p99Ms.toFixed(2)} ms (200 folds)`);
  }
  // Tracing on the bare append: the snapshots would weigh on both sides.
  await store.dropSnapshot('user_every');
  await store.dropSnapshot('user_64');
  const tracing = { noop: [] as number[], recorded: [] as number[] };
  for (let round = 1; round <= options.rounds; round++) {
    tracing.noop.push(await rate(seconds, 1, append));
    const exporter = new InMemorySpanExporter();
    const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    provider.register();
    let spans = 0;
    try {
      tracing.recorded.push(await rate(seconds, 1, append));
      spans = exporter.getFinishedSpans().length;
    } finally {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    }
    log(
      `  append, round ${round}: ${tracing.noop.at(-1)!.toFixed(0)} appends/s with the no-op tracer, ` +
        `${tracing.recorded.at(-1)!.toFixed(0)} with every span recorded (${spans} spans)`,
    );
  }
  // Personal data: the same event, first in a store with no declaration, then of a declared type
  // (both fields encrypted with the stream's key, made at the stream's first event) and of an
  // undeclared type beside it. Declarations cannot be taken back, so this comes last.
  const person = (type: string) => (stream: string) =>
    store.append(stream, [{ type, body: { name: 'Ada Lovelace', email: 'ada@example.com', plan: 'pro' } }]);
  const personalData = { plain: [] as number[], declared: [] as number[], undeclared: [] as number[] };
  for (let round = 1; round <= options.rounds; round++) personalData.plain.push(await rate(seconds, 1, person('person_plain')));
  await store.declarePersonalData({ type: 'person_registered', fields: ['name', 'email'], subject: 'stream' });
  for (let round = 1; round <= options.rounds; round++) {
    personalData.declared.push(await rate(seconds, 1, person('person_registered')));
    personalData.undeclared.push(await rate(seconds, 1, person('person_plain')));
    log(
      `  personal data, round ${round}: ${personalData.declared.at(-1)!.toFixed(0)} appends/s with two fields encrypted, ` +
        `${personalData.undeclared.at(-1)!.toFixed(0)} of an undeclared type beside them, ${personalData.plain[round - 1]!.toFixed(0)} before any declaration`,
    );
  }
  return { seconds, rounds, snapshotAppend: { without, with: withSnapshot, every64 }, folds, tracing, personalData };
}

function spread(values: number[]): string {
  return `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}×`;
}

/** The measurement's summary lines: handle / append per caller count, snapshot costs and savings. */
export function commandSummary(m: CommandMeasurement): string[] {
  const lines: string[] = [];
  for (const callers of [1, 8]) {
    const rounds = m.rounds.filter((r) => r.callers === callers);
    if (rounds.length === 0) continue;
    const handles = rounds.map((r) => r.handlePerSecond);
    lines.push(
      `store.handle, ${callers === 1 ? 'sequential' : `${callers} concurrent callers`}: ${Math.min(...handles).toFixed(0)}–${Math.max(...handles).toFixed(0)} commands/s, ` +
        `${spread(rounds.map((r) => r.handlePerSecond / r.appendPerSecond))} of store.append`,
    );
  }
  const [live, every, sixtyFour] = m.folds;
  if (live && every && sixtyFour) {
    lines.push(
      `fold of a 1,000-event stream: live p50 ${live.p50Ms.toFixed(2)} ms; from a snapshot ${every.p50Ms.toFixed(2)} ms ` +
        `(${(every.p50Ms / live.p50Ms).toFixed(2)}×, kept at every event) and ${sixtyFour.p50Ms.toFixed(2)} ms ` +
        `(${(sixtyFour.p50Ms / live.p50Ms).toFixed(2)}×, every 64 events)`,
    );
  }
  lines.push(
    `append with a snapshot kept at every event: ${(m.snapshotAppend.with / m.snapshotAppend.without).toFixed(2)}× ` +
      `(${m.snapshotAppend.with.toFixed(0)} vs ${m.snapshotAppend.without.toFixed(0)} appends/s)` +
      (m.snapshotAppend.every64 === undefined ? '' : `; every 64 events: ${(m.snapshotAppend.every64 / m.snapshotAppend.without).toFixed(2)}×`),
  );
  if (m.personalData?.declared.length) {
    const plain = median(m.personalData.plain);
    lines.push(
      `append of an event with two personal fields encrypted (declared type) vs the same event before any declaration: ` +
        `${(median(m.personalData.declared) / plain).toFixed(2)}× (${median(m.personalData.declared).toFixed(0)} vs ${plain.toFixed(0)} appends/s, medians); ` +
        `an undeclared type in a store with declarations: ${(median(m.personalData.undeclared) / plain).toFixed(2)}×`,
    );
  }
  if (m.tracing?.noop.length) {
    lines.push(
      `append with every span recorded (in-memory exporter) vs the no-op tracer: ${spread(m.tracing.recorded.map((r, i) => r / m.tracing.noop[i]!))} ` +
        `(no-op ${Math.min(...m.tracing.noop).toFixed(0)}–${Math.max(...m.tracing.noop).toFixed(0)} appends/s)`,
    );
  }
  return lines;
}
