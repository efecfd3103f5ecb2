import type { ReaderLink } from './link.js';
import type { Wakeup } from './wakeup.js';

// While events are held back by an open transaction nothing notifies when it ends: poll, from
// quickly to at most once a second.
const HELD_BACK_POLL_FIRST_MS = 50;
const HELD_BACK_POLL_MAX_MS = 1000;
// A reader awake while writers work polls: 2 ms at first, doubling while nothing new comes (a long
// transaction holds its lock), back to 2 ms when something does.
const BUSY_POLL_FIRST_MS = 2;
const BUSY_POLL_MAX_MS = 50;
// An awake reader reads at most this often while pages come back partial: each read costs the
// writers it competes with a few statements, so it gathers the events of a few milliseconds.
const BUSY_READ_INTERVAL_MS = 10;

/** What one read of a reader found. */
export interface ReadOutcome {
  /** The cursor moved: events were handled, or the reader skipped past events of other types. */
  moved: boolean;
  /** The page was full: more is waiting, read again at once. */
  full: boolean;
  /** Committed events after the cursor wait for an older transaction that is still open. */
  heldBack: boolean;
}

/**
 * When a reader (a subscription or a log follower) reads next. Before a read that may find nothing
 * new it asks whether writers are at work (`beforeRead`); after the read it waits as the outcome
 * calls for (`afterRead`): not at all while a backlog lasts, a few milliseconds between reads while
 * it stays awake beside busy writers (appends do not notify it then), the poll interval while it
 * sleeps (appends notify it), and a growing interval while events are held back.
 */
export class ReadPacing {
  readonly #link: ReaderLink;
  readonly #wakeup: Wakeup;
  readonly #pollIntervalMs: number;
  #caughtUp = false;
  #writersActive: boolean | null = null;
  #busyDelay = BUSY_POLL_FIRST_MS;
  #heldBackDelay = HELD_BACK_POLL_FIRST_MS;
  #readStartedAt = 0;

  constructor(link: ReaderLink, wakeup: Wakeup, pollIntervalMs: number) {
    this.#link = link;
    this.#wakeup = wakeup;
    this.#pollIntervalMs = pollIntervalMs;
  }

  /** Starts over, as after a reconnect: the next read is not asked about writers. */
  reset(): void {
    this.#caughtUp = false;
    this.#busyDelay = BUSY_POLL_FIRST_MS;
    this.#heldBackDelay = HELD_BACK_POLL_FIRST_MS;
  }

  async beforeRead(): Promise<void> {
    this.#writersActive = this.#caughtUp ? await this.#link.writersActive() : null;
    this.#readStartedAt = performance.now();
  }

  async afterRead(outcome: ReadOutcome): Promise<void> {
    if (outcome.moved) {
      this.#caughtUp = false;
      this.#busyDelay = BUSY_POLL_FIRST_MS;
      this.#heldBackDelay = HELD_BACK_POLL_FIRST_MS;
      if (!outcome.full && (await this.#link.stayAwakeIfWritersActive())) {
        const rest = BUSY_READ_INTERVAL_MS - (performance.now() - this.#readStartedAt);
        if (rest >= 1) await this.#wakeup.wait(rest);
      }
      return;
    }
    this.#caughtUp = true;
    const next = await this.#link.afterIdleRead(this.#writersActive);
    if (next === 'read-again') return;
    if (next === 'busy') {
      const delay = this.#busyDelay;
      this.#busyDelay = Math.min(BUSY_POLL_MAX_MS, delay * 2);
      await this.#wakeup.wait(delay);
    } else if (outcome.heldBack) {
      const delay = this.#heldBackDelay;
      this.#heldBackDelay = Math.min(HELD_BACK_POLL_MAX_MS, delay * 2);
      await this.#wakeup.wait(delay);
    } else {
      this.#heldBackDelay = HELD_BACK_POLL_FIRST_MS;
      await this.#wakeup.wait(this.#pollIntervalMs);
    }
  }
}
