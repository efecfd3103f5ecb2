import { randomUUID } from 'node:crypto';
import type { DedicatedSession, Executor } from '../db/executor.js';

/** The channel appends notify on: plain lowercase, as PGlite requires. */
export function channelOf(schema: string): string {
  return `pgevents_${schema}`;
}

/**
 * The dedicated session of one reader. When its connection is lost the reader opens a new one
 * (`open` again); `listen` LISTENs for appends and registers the session in the listeners table,
 * without which appends do not notify.
 */
export class ReaderLink {
  readonly #executor: Executor;
  readonly #schema: string;
  readonly #onNotify: (payload: string) => void;
  readonly #onLost: () => void;
  readonly #listenerId = randomUUID();
  #session: DedicatedSession | undefined;
  #lost = false;
  #listening = false;
  #awake = false;

  constructor(executor: Executor, schema: string, handlers: { onNotify: (payload: string) => void; onLost: () => void }) {
    this.#executor = executor;
    this.#schema = schema;
    this.#onNotify = handlers.onNotify;
    this.#onLost = handlers.onLost;
  }

  /** The open session. @throws {Error} when none is open. */
  get session(): DedicatedSession {
    if (!this.#session) throw new Error('The reader has no open session');
    return this.#session;
  }

  /** Whether the session's connection was lost (or none is open). */
  get lost(): boolean {
    return this.#lost || !this.#session;
  }

  /** Marks the session as lost, e.g. after a statement on it failed and a ping failed too. */
  markLost(): void {
    this.#lost = true;
  }

  async open(): Promise<DedicatedSession> {
    const session = await this.#executor.openSession();
    this.#session = session;
    this.#lost = false;
    this.#listening = false;
    this.#awake = false;
    void session.lost.then(() => {
      if (this.#session !== session) return;
      this.#lost = true;
      this.#onLost();
    });
    return session;
  }

  async listen(): Promise<void> {
    const session = this.session;
    await session.listen(channelOf(this.#schema), this.#onNotify);
    await session.query(`select ${this.#schema}.register_listener($1::uuid)`, [this.#listenerId]);
    this.#listening = true;
    this.#awake = false;
  }

  /**
   * Whether another session is writing events now, asked before a read that may find nothing new
   * (null when not listening: nothing depends on it then).
   */
  async writersActive(): Promise<boolean | null> {
    if (!this.#listening) return null;
    const [row] = await this.session.query<{ active: boolean }>(`select ${this.#schema}.events_writers_active() as active`);
    return row?.active === true;
  }

  /**
   * What a reader whose read found nothing new does next, given what writersActive() said before
   * that read. `busy`: writers are at work, so the reader stays awake (appends do not notify it)
   * and reads again soon. `read-again`: ask and read once more first (the reader has just gone to
   * sleep, or did not ask before its read). `asleep`: appends notify it; it may wait. The order
   * asleep, ask, read is what loses no wake-up (see set_listener_awake in
   * sql/subscriptions/listeners.sql).
   */
  async afterIdleRead(writersActive: boolean | null): Promise<'busy' | 'read-again' | 'asleep'> {
    if (!this.#listening) return 'asleep';
    if (writersActive === null) return 'read-again';
    if (writersActive) {
      await this.#setAwake(true);
      return 'busy';
    }
    if (!this.#awake) return 'asleep';
    await this.#setAwake(false);
    return 'read-again';
  }

  /**
   * After a read that found new events: a sleeping reader beside writers at work stays awake, so
   * that their appends need not notify it (each NOTIFY serialises the commits of the writers). Safe
   * at any time: an awake reader reads again by itself. Returns whether the reader is awake.
   */
  async stayAwakeIfWritersActive(): Promise<boolean> {
    if (!this.#listening) return false;
    if (!this.#awake && (await this.writersActive())) await this.#setAwake(true);
    return this.#awake;
  }

  async #setAwake(awake: boolean): Promise<void> {
    if (this.#awake === awake) return;
    await this.session.query(`select ${this.#schema}.set_listener_awake($1::uuid, $2)`, [this.#listenerId, awake]);
    this.#awake = awake;
  }

  /** Whether the session still answers. */
  async healthy(): Promise<boolean> {
    if (this.lost) return false;
    try {
      await this.session.query('select 1');
      return true;
    } catch {
      this.#lost = true;
      return false;
    }
  }

  /** Unregisters the listener (when the connection still works) and closes the session. */
  async close(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (!session) return;
    if (this.#listening && !this.#lost) {
      await session.query(`select ${this.#schema}.unregister_listener($1::uuid)`, [this.#listenerId]).catch(() => undefined);
    }
    this.#listening = false;
    await session.close();
  }
}
