import { isUtf8 } from 'node:buffer';
import { InvalidEventError } from '../errors.js';

/** One line of the input, without its line break; `number` counts from 1. */
export interface Line {
  number: number;
  text: string;
}

/**
 * The longest line accepted: an event's body is at most 1 MiB and its metadata 64 KiB once written
 * compactly, but a file may spell them with escapes and spaces. A longer line is refused rather
 * than held in memory whole.
 */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

const NEWLINE = 0x0a;

function decode(bytes: Buffer, number: number): string {
  if (!isUtf8(bytes)) {
    throw new InvalidEventError(`Invalid import: line ${number} is not valid UTF-8 text`, {
      line: number,
      hint: 'Save the file as UTF-8.',
    });
  }
  const text = bytes.toString('utf8');
  // A byte order mark (as some spreadsheets write) is not part of the first line.
  return number === 1 && text.startsWith('\uFEFF') ? text.slice(1) : text;
}

function tooLong(number: number): InvalidEventError {
  return new InvalidEventError(`Invalid import: line ${number} is longer than ${MAX_LINE_BYTES / 1024 / 1024} MiB`, {
    line: number,
    hint: 'Events are at most 1 MiB of body and 64 KiB of metadata; store large payloads elsewhere.',
  });
}

/**
 * Splits UTF-8 text, as it streams in, into lines (at `\n`; a `\r` before it is kept, for the
 * caller to judge). Only the line being read is held in memory. `onBytes` is told the size of each
 * line (with its line break) as it is handed over.
 * @throws {InvalidEventError} for a line that is not valid UTF-8 or is too long, naming the line.
 */
export async function* readLines(
  chunks: AsyncIterable<string | Uint8Array>,
  onBytes: (bytes: number) => void = () => undefined,
): AsyncGenerator<Line> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let number = 0;
  for await (const chunk of chunks) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let end = bytes.indexOf(NEWLINE, start); end !== -1; end = bytes.indexOf(NEWLINE, start)) {
      number += 1;
      if (pendingBytes + end - start > MAX_LINE_BYTES) throw tooLong(number);
      const line = pending.length === 0 ? bytes.subarray(start, end) : Buffer.concat([...pending, bytes.subarray(start, end)]);
      pending = [];
      pendingBytes = 0;
      onBytes(line.length + 1);
      yield { number, text: decode(line, number) };
      start = end + 1;
    }
    if (start < bytes.length) {
      pending.push(bytes.subarray(start));
      pendingBytes += bytes.length - start;
      if (pendingBytes > MAX_LINE_BYTES) throw tooLong(number + 1);
    }
  }
  if (pendingBytes > 0) {
    number += 1;
    onBytes(pendingBytes);
    yield { number, text: decode(Buffer.concat(pending), number) };
  }
}
