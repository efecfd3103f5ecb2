/**
 * A wake-up signal for a polling loop: `wait(ms)` returns on the next `wake()` or after `ms`.
 * A wake that comes while nobody waits is kept, so the next wait returns at once: none is lost.
 */
export class Wakeup {
  #pending = false;
  #release: (() => void) | undefined;

  wake(): void {
    this.#pending = true;
    this.#release?.();
  }

  async wait(ms: number): Promise<void> {
    if (!this.#pending) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.#release?.(), ms);
        this.#release = () => {
          clearTimeout(timer);
          this.#release = undefined;
          resolve();
        };
      });
    }
    this.#pending = false;
  }
}

const BUSY_POLL_FIRST_MS = 2;
const BUSY_POLL_MAX_MS = 50;

/**
 * How long a reader that stays awake while writers are at work waits before it reads again: 2 ms
 * at first, doubling while nothing new comes (a long transaction holds its lock), back to 2 ms
 * when something does.
 */
export class BusyPoll {
  #delay = BUSY_POLL_FIRST_MS;

  next(): number {
    const delay = this.#delay;
    this.#delay = Math.min(BUSY_POLL_MAX_MS, this.#delay * 2);
    return delay;
  }

  reset(): void {
    this.#delay = BUSY_POLL_FIRST_MS;
  }
}
