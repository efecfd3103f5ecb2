import type { Cursor } from '../store/cursor.js';
import { compareCursors } from './read-page.js';

interface Waiter {
  target: Cursor;
  /** Reads of the checkpoint begun before the waiter came may be stale for it. */
  epoch: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Callers of `caughtUp()`, each waiting for the reader's cursor to reach its target. A cursor that
 * was read from the database counts only for waiters that came before that read began: a reset or
 * skip may have moved the checkpoint since an earlier read.
 */
export class CatchUpWaiters {
  #waiters: Waiter[] = [];
  #epoch = 0;

  /** Call before reading the checkpoint; pass the result to `advance` with what it read. */
  beginRead(): number {
    this.#epoch += 1;
    return this.#epoch;
  }

  /**
   * Resolves once `advance` reaches target. With `fresh`, only a read begun after this call (or a
   * saved checkpoint) counts; otherwise `current` may resolve it at once.
   */
  add(target: Cursor, current: Cursor, options: { fresh?: boolean } = {}): Promise<void> {
    if (!options.fresh && compareCursors(current, target) >= 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ target, epoch: this.#epoch, resolve, reject }));
  }

  /** The cursor is now `current`: saved (readEpoch omitted) or read in the read `readEpoch`. */
  advance(current: Cursor, readEpoch = Number.POSITIVE_INFINITY): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      if (readEpoch <= waiter.epoch || compareCursors(current, waiter.target) < 0) return true;
      waiter.resolve();
      return false;
    });
  }

  rejectAll(error: unknown): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }
}
