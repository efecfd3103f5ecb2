import type { IncomingMessage, ServerResponse } from 'node:http';
import { type EventStore, parseCursor } from '../../index.js';
import { HttpError, intParam } from '../http.js';
import { eventJson, type EventJson } from '../json.js';

/** How the live feed polls and keeps its connection alive. */
export interface LiveOptions {
  /** How often to look for new events, in milliseconds. */
  pollMs: number;
  /** How often to send a keep-alive comment, in milliseconds. */
  keepAliveMs: number;
  /** Turns an error into the JSON the page shows. */
  describe: (error: unknown) => unknown;
}

const BATCH = 200;
const HELD_BACK_EVERY_MS = 2000;
/** The held-back count stops here; the page says "10000+" beyond. */
const HELD_BACK_MAX = 10_001;

/**
 * The newest `count` events in the gap-safe order (oldest first), and the cursor after the newest
 * of them: where a feed that starts "now" continues.
 */
async function tail(store: EventStore, count: number): Promise<{ events: EventJson[]; cursor: string }> {
  const { events: newestFirst } = await store.readAllBackward({ limit: Math.max(count, 1) });
  const events = newestFirst.map(eventJson).reverse();
  const cursor = events.at(-1)?.cursor ?? '0-0';
  return { events: count === 0 ? [] : events, cursor };
}

/**
 * Server-sent events of new appends, read with the gap-safe `readAll` from a cursor. Every event
 * carries its cursor as the SSE id, so a page that reconnects (EventSource's Last-Event-ID, or
 * `?after=`) continues exactly after the last event it got. Without a cursor the feed starts at
 * the tail, after `backlog` recent events.
 */
export async function streamLive(
  store: EventStore,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  options: LiveOptions,
): Promise<void> {
  const lastEventId = req.headers['last-event-id'];
  const afterText = url.searchParams.get('after') ?? (typeof lastEventId === 'string' ? lastEventId : null);
  let after: string;
  let backlog: EventJson[] = [];
  if (afterText !== null && afterText !== '') {
    try {
      parseCursor(afterText, 'after');
    } catch {
      throw new HttpError(400, 'BAD_REQUEST', `Not a cursor: ${JSON.stringify(afterText.slice(0, 60))}`);
    }
    after = afterText;
  } else {
    const start = await tail(store, intParam(url, 'backlog', 25, 0, 200));
    after = start.cursor;
    backlog = start.events;
  }

  let open = true;
  let wake: (() => void) | null = null;
  const stop = () => {
    open = false;
    wake?.();
  };
  req.on('close', stop);
  res.on('close', stop);

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  const send = async (text: string) => {
    if (!open) return;
    if (!res.write(text)) await new Promise<void>((resolve) => {
      res.once('drain', resolve);
      res.once('close', resolve);
    });
  };
  const sendEvents = async (events: EventJson[]) => {
    for (const event of events) await send(`id: ${event.cursor}\nevent: append\ndata: ${JSON.stringify(event)}\n\n`);
  };

  await send(`retry: 2000\nevent: ready\ndata: ${JSON.stringify({ cursor: after, backlog: backlog.length })}\n\n`);
  await sendEvents(backlog);
  let lastWrite = Date.now();
  let lastHeldCheck = 0;
  let held = 0;
  while (open) {
    let read;
    try {
      read = await store.readAll({ after, limit: BATCH });
    } catch (error) {
      // The page reconnects from its last cursor; nothing is lost.
      await send(`event: problem\ndata: ${JSON.stringify(options.describe(error))}\n\n`);
      res.end();
      return;
    }
    if (read.events.length > 0) {
      await sendEvents(read.events.map(eventJson));
      after = read.cursor;
      lastWrite = Date.now();
      if (read.events.length === BATCH) continue;
    } else if (Date.now() - lastWrite >= options.keepAliveMs) {
      await send(`: keep-alive ${after}\n\n`);
      lastWrite = Date.now();
    }
    if (Date.now() - lastHeldCheck >= HELD_BACK_EVERY_MS) {
      lastHeldCheck = Date.now();
      const now = await store.heldBackEvents({ max: HELD_BACK_MAX }).catch(() => held);
      if (now !== held) {
        held = now;
        await send(`event: held\ndata: ${JSON.stringify({ events: held })}\n\n`);
      }
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.pollMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = null;
  }
  res.end();
}
