import { setTimeout as delay } from 'node:timers/promises';
import type { Queryable } from '../db/executor.js';
import { ConcurrencyError, InvalidArgumentError } from '../errors.js';
import { appendEvents } from '../store/append.js';
import { readStream } from '../store/read.js';
import { assertInteger } from '../store/validate.js';
import type { Aggregate, CommandHandler, EventShape, HandleOptions, HandleResult, StoredEventOf, StreamFold } from './types.js';

const PAGE_SIZE = 1000;
const DEFAULT_MAX_ATTEMPTS = 10;

function assertFunctions(value: unknown, names: readonly string[]): void {
  for (const name of names) {
    if (typeof (value as Record<string, unknown> | null)?.[name] !== 'function') {
      throw new InvalidArgumentError(name, `Invalid ${name}: expected a function`, {
        hint: 'Pass { initial: () => state, evolve: (state, event) => state } (and decide for a command).',
      });
    }
  }
}

/** Folds a stream's events, read in pages in version order, into its state. */
export async function aggregateStream<State, E extends EventShape>(
  db: Queryable,
  schema: string,
  stream: string,
  fold: StreamFold<State, E>,
): Promise<Aggregate<State>> {
  assertFunctions(fold, ['initial', 'evolve']);
  let state = fold.initial();
  let version = 0;
  for (;;) {
    const events = await readStream(db, schema, stream, { fromVersion: version + 1, limit: PAGE_SIZE });
    for (const event of events) {
      state = fold.evolve(state, event as StoredEventOf<E>);
      version = event.version;
    }
    if (events.length < PAGE_SIZE) return { state, version };
  }
}

/** A pause before the next attempt, random so that conflicting writers do not meet again in step. */
function backoffMs(attempt: number): number {
  return Math.random() * Math.min(100, 2 ** attempt);
}

/**
 * Decides a command on a stream's current state and appends the events it produces with that
 * state's version as the expected version; on a concurrency conflict, folds the stream again and
 * decides again, up to `maxAttempts` times.
 */
export async function handleCommand<State, E extends EventShape, Command>(
  db: Queryable,
  schema: string,
  stream: string,
  handler: CommandHandler<State, E, Command>,
  command: Command,
  options: HandleOptions = {},
): Promise<HandleResult<State>> {
  assertFunctions(handler, ['initial', 'evolve', 'decide']);
  const maxAttempts = options.client ? 1 : assertInteger('maxAttempts', options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS, 1, 1000);
  for (let attempt = 1; ; attempt++) {
    const { state, version } = await aggregateStream(db, schema, stream, handler);
    const events = await handler.decide(command, state);
    if (events.length === 0) return { state, version, nextVersion: version, events: [], attempts: attempt };
    try {
      const appended = await appendEvents(db, schema, stream, [...events], version);
      return { state, version, nextVersion: appended.nextVersion, events: appended.events, attempts: attempt };
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= maxAttempts) throw error;
      await delay(backoffMs(attempt));
    }
  }
}
