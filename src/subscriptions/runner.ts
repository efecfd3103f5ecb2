import { hostname } from 'node:os';
import { baseAttributes, inSpan, producerLinks, SpanKind } from '../telemetry/tracing.js';
import type { Executor, Queryable, Row, Session } from '../db/executor.js';
import { toInteger, toIntegerOrNull } from '../db/normalize.js';
import { SubscriptionFailedError, SubscriptionInUseError, SubscriptionStoppedError, UnknownSubscriptionError } from '../errors.js';
import { type Cursor, formatCursor, START } from '../store/cursor.js';
import type { SqlClient, StoredEvent, Subscription, SubscriptionRunState } from '../types.js';
import { CatchUpWaiters } from './catch-up.js';
import { ReaderLink } from './link.js';
import { backoffDelay, type ReaderSettings, type RetrySettings } from './options.js';
import { committedHead, compareCursors, cursorOf, type Page } from './read-page.js';
import { ReadPacing } from './pacing.js';
import { PageSource } from './replica.js';
import { Wakeup } from './wakeup.js';

/** Namespace (first key) of the session advisory locks that keep one runner per subscription. */
export const SUBSCRIPTION_LOCK_NAMESPACE = 1885824376;

const RECONNECT_MAX_DELAY_MS = 5000;

/** What a runner runs: a subscription's handler or an async projection's. */
export interface RunnerDefinition {
  name: string;
  kind: 'subscription' | 'projection';
  transactional: boolean;
  handler: (events: StoredEvent[], tx: SqlClient | undefined) => Promise<void> | void;
  settings: ReaderSettings;
  retry: RetrySettings;
  ifRunning: 'wait' | 'fail';
  takeoverIntervalMs: number;
  /** Creates (or checks) the subscription's row; checks `from` even when it exists. */
  define(db: Queryable): Promise<void>;
}

/** The handler threw: counted as a failed delivery, unlike a failure of pgevents' own statements. */
class HandlerFailure {
  constructor(readonly error: unknown) {}
}

/** The checkpoint was moved by someone else (reset, skip, replay) while a batch was in hand. */
class CheckpointMoved {}

/** What one turn did: `more` may follow at once, `partial` delivered a page that was not full. */
type Step = 'more' | 'partial' | 'idle' | 'held-back' | 'failed';

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}

export function sqlClientOf(tx: Queryable): SqlClient {
  return { query: async (sql, params) => ({ rows: await tx.query(sql, params ?? []) }) };
}

/**
 * Runs one durable subscription in this process: takes its lock, then loops: load the checkpoint,
 * read a page after it, hand the page to the handler, save the checkpoint (in the handler's
 * transaction when it is transactional). NOTIFY wakes it; the checkpoint in the database is the
 * truth, so a lost connection or a missed notification loses nothing.
 */
export class SubscriptionRunner implements Subscription {
  readonly name: string;
  readonly #executor: Executor;
  readonly #schema: string;
  readonly #definition: RunnerDefinition;
  readonly #link: ReaderLink;
  readonly #runnerId = `${hostname()}:${process.pid}`;
  // Appends, operators' changes, stop and a lost connection wake the loop; operators' changes and
  // stop end a parked failure; only stop ends a backoff.
  readonly #wakeup = new Wakeup();
  readonly #control = new Wakeup();
  readonly #stopSignal = new Wakeup();
  readonly #waiters = new CatchUpWaiters();
  readonly #batchListeners = new Set<(handled: number) => void>();
  #state: SubscriptionRunState = 'starting';
  #cursor: Cursor = START;
  #failure: SubscriptionFailedError | null = null;
  #lockKey = 0;
  #locked = false;
  #stopping = false;
  #narrowUntil: Cursor | undefined;
  #loop: Promise<void> | undefined;
  readonly #pages: PageSource;

  /**
   * @param replica a hot standby of the primary behind `executor`: pages are read there, after the
   * checkpoint held on the primary; everything else (lock, LISTEN, checkpoints, the handler's
   * transaction) stays on the primary.
   */
  constructor(executor: Executor, schema: string, definition: RunnerDefinition, replica?: Executor) {
    this.name = definition.name;
    this.#executor = executor;
    this.#pages = new PageSource(replica);
    this.#schema = schema;
    this.#definition = definition;
    this.#link = new ReaderLink(executor, schema, {
      onNotify: (payload) => {
        if (payload === 'events') this.#wakeup.wake();
        else if (payload === `subscription ${this.name}`) this.#wakeAll();
      },
      onLost: () => this.#wakeAll(),
    });
  }

  get state(): SubscriptionRunState {
    return this.#state;
  }

  get cursor(): string {
    return formatCursor(this.#cursor);
  }

  get failure(): Error | null {
    return this.#failure;
  }

  /**
   * Creates the subscription if needed, opens its session and takes its lock (or waits for it).
   * @throws {SubscriptionInUseError} when another runner has it and ifRunning is 'fail'.
   */
  async start(): Promise<void> {
    const definition = this.#definition;
    await definition.define(this.#executor);
    const [key] = await this.#executor.query<{ key: unknown }>(`select ${this.#schema}.subscription_lock_key($1) as key`, [
      this.name,
    ]);
    this.#lockKey = toInteger(key?.key);
    await this.#link.open();
    try {
      if (!(await this.#takeOver())) {
        if (definition.ifRunning === 'fail') {
          const [row] = await this.#executor.query<{ runner: string | null }>(
            `select runner from ${this.#schema}.subscriptions where name = $1`,
            [this.name],
          );
          throw new SubscriptionInUseError(this.name, row?.runner ?? null);
        }
        this.#state = 'waiting';
      }
    } catch (error) {
      await this.#link.close();
      this.#state = 'stopped';
      throw error;
    }
    this.#loop = this.#run();
  }

  get kind(): 'subscription' | 'projection' {
    return this.#definition.kind;
  }

  /** Calls listener with the number of events of each batch handled and checkpointed. */
  onBatch(listener: (handled: number) => void): () => void {
    this.#batchListeners.add(listener);
    return () => this.#batchListeners.delete(listener);
  }

  /**
   * Resolves once every event committed before the call has been handled (events held back by an
   * older open transaction are waited for); rejects with the failure when the subscription fails
   * (or is failed and stays so), or when it stops first.
   */
  async caughtUp(): Promise<void> {
    if (this.#state === 'stopped' || this.#stopping) throw this.#stoppedError();
    const target = await committedHead(this.#executor, this.#schema);
    // Fresh: the checkpoint in memory may predate a reset; the next read of it decides.
    const reached = this.#waiters.add(target, this.#cursor, { fresh: true });
    this.#wakeAll();
    return reached;
  }

  /** Settles when the runner has stopped. */
  get done(): Promise<void> {
    return this.#loop ?? Promise.resolve();
  }

  async resume(): Promise<void> {
    await this.#executor.query(`select 1 from ${this.#schema}.resume_subscription($1)`, [this.name]);
    this.#wakeAll();
  }

  async skip(): Promise<void> {
    await this.#executor.query(`select 1 from ${this.#schema}.skip_subscription_event($1)`, [this.name]);
    this.#wakeAll();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeAll();
    this.#stopSignal.wake();
    await this.#loop;
  }

  #wakeAll(): void {
    this.#wakeup.wake();
    this.#control.wake();
  }

  #stoppedError(): SubscriptionStoppedError {
    return new SubscriptionStoppedError(this.name);
  }

  async #takeOver(): Promise<boolean> {
    const session = this.#link.session;
    if (!(await session.tryLock(SUBSCRIPTION_LOCK_NAMESPACE, this.#lockKey))) return false;
    this.#locked = true;
    if (this.#definition.settings.listen) await this.#link.listen();
    await session.query(`select 1 from ${this.#schema}.start_subscription_run($1, $2)`, [this.name, this.#runnerId]);
    this.#state = 'catching-up';
    return true;
  }

  async #run(): Promise<void> {
    const { settings } = this.#definition;
    const pacing = new ReadPacing(this.#link, this.#wakeup, settings.pollIntervalMs);
    let failures = 0;
    while (!this.#stopping) {
      try {
        if (this.#link.lost) {
          await this.#reconnect();
          pacing.reset();
          continue;
        }
        if (!this.#locked) {
          if (await this.#takeOver()) continue;
          this.#state = 'waiting';
          await this.#control.wait(this.#definition.takeoverIntervalMs);
          continue;
        }
        await pacing.beforeRead();
        const step = await this.#step();
        failures = 0;
        if (step === 'failed') {
          pacing.reset();
          await this.#control.wait(settings.pollIntervalMs);
          continue;
        }
        await pacing.afterRead({ moved: step === 'more' || step === 'partial', full: step === 'more', heldBack: step === 'held-back' });
      } catch (error) {
        // pgevents' own statements failed: a lost connection (reconnect), or a database error
        // (try again after a while). Neither counts as a failed delivery.
        settings.onError(error);
        if (!(await this.#link.healthy())) continue;
        failures += 1;
        await this.#stopSignal.wait(Math.min(RECONNECT_MAX_DELAY_MS, 100 * 2 ** failures));
      }
    }
    await this.#shutdown();
  }

  async #reconnect(): Promise<void> {
    this.#state = 'reconnecting';
    this.#locked = false;
    await this.#link.close().catch(() => undefined);
    let failures = 0;
    while (!this.#stopping) {
      try {
        await this.#link.open();
        return;
      } catch (error) {
        this.#definition.settings.onError(error);
        failures += 1;
        await this.#stopSignal.wait(Math.min(RECONNECT_MAX_DELAY_MS, 100 * 2 ** failures));
      }
    }
  }

  async #shutdown(): Promise<void> {
    this.#state = 'stopping';
    if (this.#locked && !this.#link.lost) {
      await this.#link.session
        .query(`select ${this.#schema}.stop_subscription_run($1)`, [this.name])
        .catch((error: unknown) => this.#definition.settings.onError(error));
    }
    await this.#link.close().catch(() => undefined);
    this.#locked = false;
    this.#state = 'stopped';
    this.#waiters.rejectAll(this.#stoppedError());
  }

  async #loadCheckpoint(session: Session): Promise<Row> {
    const [row] = await session.query(
      `select s.transaction_id, s."position", s.state, s.attempts, s.last_error, s.error_transaction_id, s.error_position,
              e.type as error_type, e.uuid as error_stream, e.version as error_version
         from ${this.#schema}.subscriptions s
         left join ${this.#schema}.events e on e.id = s.error_position
        where s.name = $1`,
      [this.name],
    );
    if (!row) throw new UnknownSubscriptionError(this.name);
    return row;
  }

  #failureOf(row: Row): SubscriptionFailedError {
    const position = toIntegerOrNull(row.error_position) ?? 0;
    return new SubscriptionFailedError({
      subscription: this.name,
      position,
      cursor: `${String(row.error_transaction_id)}-${position}`,
      eventType: String(row.error_type ?? ''),
      stream: String(row.error_stream ?? ''),
      version: toIntegerOrNull(row.error_version) ?? 0,
      attempts: toInteger(row.attempts),
      message: String(row.last_error ?? ''),
    });
  }

  #advance(cursor: Cursor, readEpoch?: number): void {
    this.#cursor = cursor;
    this.#waiters.advance(cursor, readEpoch);
  }

  /** One turn of the loop: deliver at most one page. */
  async #step(): Promise<Step> {
    const { settings } = this.#definition;
    const session = this.#link.session;
    const epoch = this.#waiters.beginRead();
    const row = await this.#loadCheckpoint(session);
    this.#advance({ transactionId: String(row.transaction_id), position: toInteger(row.position) }, epoch);
    if (row.state === 'failed') {
      if (!this.#failure) {
        this.#failure = this.#failureOf(row);
        settings.onError(this.#failure);
      }
      this.#state = 'failed';
      this.#waiters.rejectAll(this.#failure);
      return 'failed';
    }
    this.#failure = null;

    const narrow = this.#narrowUntil !== undefined && compareCursors(this.#cursor, this.#narrowUntil) < 0;
    if (!narrow) this.#narrowUntil = undefined;
    const limit = narrow ? 1 : settings.batchSize;
    const from = this.#cursor;
    const page = await this.#pages.read(session, this.#schema, from, limit, settings.types, () => this.#stopping);
    if (page.events.length === 0) {
      if (compareCursors(page.next, from) > 0) {
        await this.#save(session, from, page.next);
        return 'partial';
      }
      this.#state = 'live';
      // A standby that has not replayed what the primary had may hold events back: poll it.
      return page.heldBack || page.behind ? 'held-back' : 'idle';
    }
    this.#state = page.events.length === limit && !narrow ? 'catching-up' : 'live';
    try {
      await this.#deliver(session, from, page);
    } catch (error) {
      if (error instanceof CheckpointMoved) return 'more';
      if (!(error instanceof HandlerFailure)) throw error;
      // A handler that failed because the connection went away did not fail on the event.
      if (!(await this.#link.healthy())) return 'more';
      return this.#handleFailure(session, from, page, error.error);
    }
    for (const listener of this.#batchListeners) listener(page.events.length);
    return page.events.length === limit ? 'more' : 'partial';
  }

  /**
   * Hands a page to the handler in a CONSUMER span (`process <name>`) linked to the spans that
   * appended its events (their metadata's traceparent), then saves the checkpoint.
   */
  #deliver(session: Session, from: Cursor, page: Page): Promise<void> {
    return inSpan(
      `process ${this.name}`,
      {
        kind: SpanKind.CONSUMER,
        links: producerLinks(page.events),
        attributes: {
          ...baseAttributes(this.#schema),
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'messaging.destination.subscription.name': this.name,
          'messaging.consumer.group.name': this.name,
          'messaging.batch.message_count': page.events.length,
          ...(page.events.length === 1 ? { 'messaging.message.id': page.events[0]!.eventId } : {}),
        },
      },
      () => this.#deliverPage(session, from, page),
    );
  }

  async #deliverPage(session: Session, from: Cursor, page: Page): Promise<void> {
    const { handler, transactional } = this.#definition;
    if (!transactional) {
      try {
        await handler(page.events, undefined);
      } catch (error) {
        throw new HandlerFailure(error);
      }
      await this.#save(session, from, page.next);
      return;
    }
    await session.transaction(async (tx) => {
      const locked = await tx.query(
        `select 1 from ${this.#schema}.subscriptions
          where name = $1 and transaction_id = $2::xid8 and "position" = $3 and state <> 'failed'
          for update`,
        [this.name, from.transactionId, from.position],
      );
      if (locked.length === 0) throw new CheckpointMoved();
      try {
        await handler(page.events, sqlClientOf(tx));
      } catch (error) {
        throw new HandlerFailure(error);
      }
      await this.#save(tx, from, page.next, false);
    });
    this.#advance(page.next);
  }

  async #save(db: Queryable, from: Cursor, to: Cursor, advance = true): Promise<void> {
    const [row] = await db.query<{ saved: boolean }>(
      `select ${this.#schema}.save_subscription_checkpoint($1, $2::xid8, $3, $4::xid8, $5) as saved`,
      [this.name, from.transactionId, from.position, to.transactionId, to.position],
    );
    if (!row?.saved) throw new CheckpointMoved();
    if (advance) this.#advance(to);
  }

  async #handleFailure(session: Session, from: Cursor, page: Page, error: unknown): Promise<Step> {
    const { settings, retry } = this.#definition;
    settings.onError(error);
    if (page.events.length > 1) {
      // Find the event that fails: deliver the events of this batch one by one.
      this.#narrowUntil = cursorOf(page.events[page.events.length - 1]!);
      return 'more';
    }
    const event = page.events[0]!;
    const [recorded] = await session.query<{ attempts: unknown; state: string | null }>(
      `select attempts, state from ${this.#schema}.record_subscription_failure($1, $2::xid8, $3, $4::xid8, $5, $6, $7)`,
      [this.name, from.transactionId, from.position, event.transactionId, event.position, messageOf(error), retry.maxAttempts],
    );
    const attempts = toInteger(recorded?.attempts ?? 0);
    if (!recorded || recorded.state === null) return 'more';
    if (recorded.state === 'failed') {
      this.#failure = new SubscriptionFailedError(
        {
          subscription: this.name,
          position: event.position,
          cursor: formatCursor(cursorOf(event)),
          eventType: event.type,
          stream: event.stream,
          version: event.version,
          attempts,
          message: messageOf(error),
        },
        { cause: error },
      );
      settings.onError(this.#failure);
      this.#state = 'failed';
      this.#waiters.rejectAll(this.#failure);
      return 'failed';
    }
    this.#state = 'retrying';
    await this.#stopSignal.wait(backoffDelay(retry, attempts));
    return 'more';
  }
}
