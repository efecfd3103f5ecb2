import { InvalidArgumentError, InvalidCursorError } from '../errors.js';
import { parseCursor } from '../store/cursor.js';
import { assertInteger, isEventType } from '../store/validate.js';
import type { RetryOptions, SubscriptionStart } from '../types.js';

const SUBSCRIPTION_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** The options of a follow or a subscription, checked and with their defaults. */
export interface ReaderSettings {
  from: string;
  types: string[] | null;
  batchSize: number;
  pollIntervalMs: number;
  listen: boolean;
  onError: (error: unknown) => void;
}

export interface RetrySettings {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

/** @throws {InvalidArgumentError} for a name the SQL API would refuse. */
export function assertSubscriptionName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SUBSCRIPTION_NAME.test(name)) {
    throw new InvalidArgumentError('name', `Invalid subscription name: ${JSON.stringify(name)}`, {
      hint: 'Use 1 to 63 characters: a lowercase letter, then lowercase letters, digits, _ or -.',
    });
  }
}

/**
 * 'start', 'end' or a well-formed cursor. Whether the cursor belongs to this store is checked by
 * the database (resolve_cursor).
 * @throws {InvalidCursorError} for anything else.
 */
export function checkStart(from: unknown, argument = 'from'): string {
  if (from === undefined || from === 'start') return 'start';
  if (from === 'end') return 'end';
  try {
    parseCursor(from, argument);
  } catch {
    throw new InvalidCursorError(argument, typeof from === 'string' ? from : String(from), 'malformed');
  }
  return from as string;
}

function checkTypes(types: unknown): string[] | null {
  if (types === undefined || types === null) return null;
  if (!Array.isArray(types) || types.length === 0 || !types.every(isEventType)) {
    throw new InvalidArgumentError('types', `Invalid types: ${JSON.stringify(types)?.slice(0, 120)}`, {
      hint: 'Pass a non-empty array of event types, or leave types out for all events.',
    });
  }
  return [...new Set(types as string[])];
}

/** @throws {InvalidArgumentError} */
export function readerSettings(options: {
  from?: SubscriptionStart;
  types?: string[];
  batchSize?: number;
  pollIntervalMs?: number;
  listen?: boolean;
  onError?: (error: unknown) => void;
}): ReaderSettings {
  if (options.listen !== undefined && typeof options.listen !== 'boolean') {
    throw new InvalidArgumentError('listen', `Invalid listen: ${JSON.stringify(options.listen)} (true or false)`);
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new InvalidArgumentError('onError', 'Invalid onError: it must be a function');
  }
  return {
    from: checkStart(options.from),
    types: checkTypes(options.types),
    batchSize: assertInteger('batchSize', options.batchSize ?? 100, 1, 10_000),
    pollIntervalMs: assertInteger('pollIntervalMs', options.pollIntervalMs ?? 5000, 10, 3_600_000),
    listen: options.listen ?? true,
    onError: (error) => {
      try {
        options.onError?.(error);
      } catch {
        // an onError that throws must not stop delivery
      }
    },
  };
}

/** @throws {InvalidArgumentError} */
export function retrySettings(retry: RetryOptions | undefined): RetrySettings {
  const maxAttempts = assertInteger('retry.maxAttempts', retry?.maxAttempts ?? 5, 1, 1000);
  const initialDelayMs = assertInteger('retry.initialDelayMs', retry?.initialDelayMs ?? 200, 0, 3_600_000);
  const maxDelayMs = assertInteger('retry.maxDelayMs', retry?.maxDelayMs ?? 30_000, initialDelayMs, 3_600_000);
  return { maxAttempts, initialDelayMs, maxDelayMs };
}

/** Exponential backoff: the wait after the given number of failures in a row. */
export function backoffDelay(retry: RetrySettings, failures: number): number {
  return Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** Math.max(0, failures - 1));
}

/** @throws {InvalidArgumentError} unless fn is a function. */
export function assertHandler(fn: unknown, argument = 'handler'): void {
  if (typeof fn !== 'function') throw new InvalidArgumentError(argument, `Invalid ${argument}: it must be a function`);
}
