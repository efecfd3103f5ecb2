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
