import { randomUUID } from 'node:crypto';

// RFC 9562 §6.2, method 1: the 12 bits after the version (rand_a) are a counter, so the ids made in
// one millisecond still increase. It starts at a random value below 0x800 (room for 2,048 more in
// that millisecond); past 0xfff the timestamp moves a millisecond ahead of the clock, and it comes
// back to the clock once the clock passes it, or at once if the clock is 10 s behind (set back).
let lastMilliseconds = -1;
let counter = 0;
let timestampText = '';

const COUNTER_TEXT = Array.from({ length: 0x1000 }, (_, value) => value.toString(16).padStart(3, '0'));

/**
 * A fresh event id: a UUID version 7 (RFC 9562: a 48-bit millisecond timestamp, the version 7, a
 * 12-bit counter, the variant and 62 random bits), greater than every id made before it by this
 * process, so that a batch's ids land in order at the end of the event_id index.
 */
export function newEventId(): string {
  // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx: the variant and the 62 random bits after it are kept.
  const random = randomUUID();
  const now = Date.now();
  if (now > lastMilliseconds || now + 10_000 < lastMilliseconds) {
    lastMilliseconds = now;
    counter = Number.parseInt(random.slice(15, 18), 16) & 0x7ff;
  } else if (++counter > 0xfff) {
    lastMilliseconds++;
    counter = 0;
  } else {
    return `${timestampText}${COUNTER_TEXT[counter]}${random.slice(18)}`;
  }
  const timestamp = lastMilliseconds.toString(16).padStart(12, '0');
  timestampText = `${timestamp.slice(0, 8)}-${timestamp.slice(8)}-7`;
  return `${timestampText}${COUNTER_TEXT[counter]}${random.slice(18)}`;
}
