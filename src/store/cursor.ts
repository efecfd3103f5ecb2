import { InvalidArgumentError } from '../errors.js';

/** A place in the gap-safe global order: after the event (transactionId, position). */
export interface Cursor {
  transactionId: string;
  position: number;
}

export const START: Cursor = { transactionId: '0', position: 0 };

const CURSOR = /^(\d{1,20})-(\d{1,18})$/;

/** Cursors are opaque to users: `<transaction id>-<position>`. */
export function formatCursor(cursor: Cursor): string {
  return `${cursor.transactionId}-${cursor.position}`;
}

/** @throws {InvalidArgumentError} when the text is not a cursor pgevents handed out. */
export function parseCursor(text: unknown, argument = 'cursor'): Cursor {
  const match = typeof text === 'string' ? CURSOR.exec(text) : null;
  if (!match) {
    throw new InvalidArgumentError(argument, `Invalid cursor: ${JSON.stringify(text)}`, {
      hint: 'Pass a cursor returned by readAll (or a subscription), e.g. "1234-56"; leave it out to start from the beginning.',
    });
  }
  return { transactionId: BigInt(match[1] ?? '0').toString(), position: Number(match[2]) };
}
