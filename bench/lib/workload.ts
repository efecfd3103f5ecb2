/**
 * The workload: users that are created once and then renamed. Every system receives the same
 * events: a stream is one user's uuid; its first event is user_create, the rest user_update.
 */
import { randomUUID } from 'node:crypto';
import type { Batch, BenchEvent, BulkSource } from './types.js';

let nameCounter = 0;

function nextName(): string {
  nameCounter = (nameCounter + 1) % 1_000_000_000;
  return `user ${nameCounter}`;
}

export function eventAt(position: number): BenchEvent {
  return position === 0
    ? { type: 'user_create', body: { name: nextName() } }
    : { type: 'user_update', body: { name: nextName() } };
}

/**
 * Hands out batches for one connection: `batchSize` consecutive events of the current stream,
 * starting a new stream (a new user) every `eventsPerStream` events. Each connection has its own
 * cursor, so concurrent writers never write to the same stream.
 */
export class StreamCursor {
  private stream = randomUUID();
  private position = 0;
  /** Streams begun by this cursor (users created). */
  streamsStarted = 0;
  eventsHandedOut = 0;

  constructor(
    private readonly batchSize: number,
    private readonly eventsPerStream: number,
  ) {
    if (eventsPerStream % batchSize !== 0) {
      throw new Error('eventsPerStream must be a multiple of batchSize');
    }
  }

  next(): Batch {
    if (this.position >= this.eventsPerStream) {
      this.stream = randomUUID();
      this.position = 0;
    }
    const events: BenchEvent[] = [];
    let creates = 0;
    for (let i = 0; i < this.batchSize; i++) {
      if (this.position === 0) {
        creates++;
        this.streamsStarted++;
      }
      events.push(eventAt(this.position));
      this.position++;
    }
    this.eventsHandedOut += events.length;
    return { stream: this.stream, events, creates };
  }
}

/**
 * A bulk load of `total` events over total / eventsPerStream users. Users come in blocks of 1,000;
 * within a block every user gets its create, then every user its first update, and so on, so the
 * log interleaves streams the way a live system's would.
 */
export function bulkSource(total: number, eventsPerStream: number): BulkSource {
  const streams = Math.ceil(total / eventsPerStream);
  return {
    total,
    streams,
    *copyRows() {
      const block = 1000;
      let emitted = 0;
      let chunk: string[] = [];
      for (let first = 0; first < streams; first += block) {
        const ids: string[] = [];
        for (let u = first; u < Math.min(first + block, streams); u++) ids.push(randomUUID());
        for (let k = 0; k < eventsPerStream; k++) {
          for (const id of ids) {
            if (emitted >= total) break;
            const e = eventAt(k);
            // COPY text format: the JSON holds no tab, newline or backslash.
            chunk.push(`${id}\t${e.type}\t${JSON.stringify(e.body)}\n`);
            emitted++;
            if (chunk.length >= 2000) {
              yield chunk.join('');
              chunk = [];
            }
          }
        }
      }
      if (chunk.length > 0) yield chunk.join('');
    },
  };
}

/** The source's events as NDJSON lines, in chunks (what a file given to `pgevents import` holds). */
export async function* ndjsonOf(source: BulkSource): AsyncIterable<string> {
  for (const chunk of source.copyRows()) {
    let out = '';
    for (const line of chunk.split('\n')) {
      if (!line) continue;
      const [stream, type, body] = line.split('\t');
      out += `{"stream":"${stream}","type":"${type}","body":${body}}\n`;
    }
    yield out;
  }
}
