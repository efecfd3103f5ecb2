import type { AppendedEvent, JsonObject, JsonValue, SqlClient, StoredEvent } from '../types.js';

/** One member of an application's event union: a type name and the shape of its body. */
export interface EventShape {
  type: string;
  body: JsonObject;
}

/** A stored event of the union `E`, its `type` and `body` narrowed together. */
export type StoredEventOf<E extends EventShape> = E extends EventShape ? Omit<StoredEvent<E['body']>, 'type'> & { type: E['type'] } : never;

/** An event of the union `E` to append, with optional metadata and id. */
export type NewEventOf<E extends EventShape> = E extends EventShape ? E & { metadata?: JsonObject; id?: string } : never;

/** How a stream's events fold into a state. */
export interface StreamFold<State, E extends EventShape> {
  /** The state of a stream that has no events (called for every fold: return a fresh value). */
  initial: () => State;
  /** The state after one more event. Keep it pure: it runs again on every fold and retry. */
  evolve: (state: State, event: StoredEventOf<E>) => State;
  /**
   * A snapshot the database keeps for these streams (`defineSnapshot`): the fold starts from the
   * stream's snapshot and folds only the newer events, both read in one statement. Its SQL evolve
   * must fold as `evolve` does, into the JSON of the state (see `revive`). A snapshot that waits
   * for a rebuild (its version changed) is not used.
   */
  snapshot?: string;
  /** The state from the snapshot's JSON (default: the JSON as it is). */
  revive?: (json: JsonValue) => State;
}

/** A stream's fold and the decision of a command against its state. */
export interface CommandHandler<State, E extends EventShape, Command> extends StreamFold<State, E> {
  /**
   * The events the command produces in this state (none: nothing is appended); throw to refuse the
   * command. It runs again after a concurrency conflict, on the state as it is then.
   */
  decide: (command: Command, state: State) => readonly NewEventOf<E>[] | Promise<readonly NewEventOf<E>[]>;
}

/** A stream folded into its state. */
export interface Aggregate<State> {
  state: State;
  /** The version of the last event folded (0 for a stream without events). */
  version: number;
  /** The version of the snapshot the fold started from; null when it started from `initial`. */
  snapshotVersion: number | null;
}

export interface AggregateOptions {
  /** Read on this client, inside the caller's open transaction. */
  client?: SqlClient;
}

export interface HandleOptions {
  /**
   * Run on this client, inside the caller's open transaction: one attempt, since a conflict aborts
   * that transaction (retry the whole transaction on ConcurrencyError).
   */
  client?: SqlClient;
  /** Attempts in all before a ConcurrencyError is thrown, default 10 (without `client`). */
  maxAttempts?: number;
}

export interface HandleResult<State> {
  /** The state the command was decided on. */
  state: State;
  /** The stream's version the command was decided on: the expected version of the append. */
  version: number;
  /** The stream's version after the append (`version` when the command produced no event). */
  nextVersion: number;
  /** The events appended, in order (as stored when every one carried an id already stored). */
  events: AppendedEvent[];
  /** How many times the command was decided (1 without a conflict). */
  attempts: number;
}
