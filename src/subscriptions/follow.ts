import type { Executor } from '../db/executor.js';
import { toInteger } from '../db/normalize.js';
import { SubscriptionStoppedError } from '../errors.js';
import { type Cursor, formatCursor } from '../store/cursor.js';
import type { Follower, FollowOptions, SubscriptionRunState } from '../types.js';
import { CatchUpWaiters } from './catch-up.js';
import { ReaderLink } from './link.js';
import { assertHandler, readerSettings, type ReaderSettings } from './options.js';
import { committedHead, compareCursors } from './read-page.js';
import { ReadPacing } from './pacing.js';
import { PageSource } from './replica.js';
import { Wakeup } from './wakeup.js';

const RETRY_MAX_DELAY_MS = 5000;

/**
 * Follows the log from a cursor, without a checkpoint: what `pgevents tail` prints. The same
 * gap-safe pages and wake-ups as a subscription; a failing handler is retried until it succeeds.
 */
export class LogFollower implements Follower {
  readonly #executor: Executor;
  readonly #schema: string;
  readonly #settings: ReaderSettings;
  readonly #handler: FollowOptions['handler'];
  readonly #link: ReaderLink;
  readonly #wakeup = new Wakeup();
  readonly #waiters = new CatchUpWaiters();
  #state: SubscriptionRunState = 'starting';
  #cursor: Cursor = { transactionId: '0', position: 0 };
  #stopping = false;
  #loop: Promise<void> | undefined;
  readonly #pages: PageSource;

  /** @param replica a hot standby of the primary behind `executor`: pages are read there (see PageSource). */
  constructor(executor: Executor, schema: string, options: FollowOptions, replica?: Executor) {
    this.#pages = new PageSource(replica);
    this.#settings = readerSettings(options);
    assertHandler(options.handler);
    this.#executor = executor;
    this.#schema = schema;
    this.#handler = options.handler;
    this.#link = new ReaderLink(executor, schema, {
      onNotify: () => this.#wakeup.wake(),
      onLost: () => this.#wakeup.wake(),
    });
  }

  get state(): SubscriptionRunState {
    return this.#state;
  }

  get cursor(): string {
    return formatCursor(this.#cursor);
  }

  /** Resolves the start cursor and opens the session. @throws {InvalidCursorError} */
  async start(): Promise<void> {
    const [start] = await this.#executor.query<{ transaction_id: unknown; position: unknown }>(
      `select transaction_id, "position" from ${this.#schema}.resolve_cursor($1)`,
      [this.#settings.from],
    );
    this.#cursor = { transactionId: String(start?.transaction_id ?? '0'), position: toInteger(start?.position ?? 0) };
    await this.#link.open();
    try {
      if (this.#settings.listen) await this.#link.listen();
    } catch (error) {
      await this.#link.close();
      throw error;
    }
    this.#state = 'catching-up';
    this.#loop = this.#run();
  }

  async caughtUp(): Promise<void> {
    if (this.#state === 'stopped' || this.#stopping) throw this.#stoppedError();
    const target = await committedHead(this.#executor, this.#schema);
    const reached = this.#waiters.add(target, this.#cursor);
    this.#wakeup.wake();
    return reached;
  }

  /** Settles when the follower has stopped. */
  get done(): Promise<void> {
    return this.#loop ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeup.wake();
    await this.#loop;
  }

  #stoppedError(): SubscriptionStoppedError {
    return new SubscriptionStoppedError(null);
  }

  async #run(): Promise<void> {
    const settings = this.#settings;
    const pacing = new ReadPacing(this.#link, this.#wakeup, settings.pollIntervalMs);
    let failures = 0;
    while (!this.#stopping) {
      try {
        if (this.#link.lost) {
          this.#state = 'reconnecting';
          await this.#link.close().catch(() => undefined);
          await this.#link.open();
          if (settings.listen) await this.#link.listen();
          pacing.reset();
          continue;
        }
        await pacing.beforeRead();
        const page = await this.#pages.read(this.#link.session, this.#schema, this.#cursor, settings.batchSize, settings.types, () => this.#stopping);
        const full = page.events.length === settings.batchSize;
        if (page.events.length > 0) {
          this.#state = full ? 'catching-up' : 'live';
          await this.#handler(page.events);
        }
        failures = 0;
        const moved = compareCursors(page.next, this.#cursor) > 0;
        this.#cursor = page.next;
        this.#waiters.advance(page.next);
        if (!moved) this.#state = 'live';
        await pacing.afterRead({ moved, full, heldBack: page.heldBack || page.behind });
      } catch (error) {
        settings.onError(error);
        if (!this.#link.lost) await this.#link.healthy();
        failures += 1;
        this.#state = 'retrying';
        await this.#wakeup.wait(Math.min(RETRY_MAX_DELAY_MS, 100 * 2 ** failures));
      }
    }
    this.#state = 'stopping';
    await this.#link.close().catch(() => undefined);
    this.#state = 'stopped';
    this.#waiters.rejectAll(this.#stoppedError());
  }
}
