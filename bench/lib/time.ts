/** Wall-clock timing. */
import { performance } from 'node:perf_hooks';
import type { Timed } from './types.js';

/** Time `fn` alone; the event count is taken from its result, or afterwards, outside the timed part. */
export async function timed<T>(fn: () => Promise<T>, events: (result: T) => Promise<number> | number): Promise<Timed> {
  const start = performance.now();
  const result = await fn();
  const seconds = (performance.now() - start) / 1000;
  return { events: await events(result), seconds };
}

export function now(): number {
  return performance.now();
}
