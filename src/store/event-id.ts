import { randomFillSync } from 'node:crypto';

// RFC 9562 §6.2, method 1: the 12 bits after the version (rand_a) are a counter, so the ids made in
// one millisecond still increase. It starts at a random value below 0x800 (room for 2,048 more in
// that millisecond); past 0xfff the timestamp moves a millisecond ahead of the clock, and it comes
// back to the clock once the clock passes it, or at once if the clock is 10 s behind (set back).
let lastMilliseconds = -1;
let counter = 0;
let timestampText = '';

// Random bytes drawn 5 KiB at a time (one call for 512 ids): 8 bytes an id for the variant and the
// 62 random bits (rand_b), 2 more to start the counter in a new millisecond.
const BYTES_PER_ID = 10;
const random = new Uint8Array(BYTES_PER_ID * 512);
let next = random.length;

const HEX = Array.from({ length: 0x100 }, (_, value) => value.toString(16).padStart(2, '0'));
const COUNTER_TEXT = Array.from({ length: 0x1000 }, (_, value) => value.toString(16).padStart(3, '0'));

function setTimestamp(milliseconds: number): void {
  lastMilliseconds = milliseconds;
  const hex = milliseconds.toString(16).padStart(12, '0');
  timestampText = `${hex.slice(0, 8)}-${hex.slice(8)}-7`;
}

/**
 * A fresh event id: a UUID version 7 (RFC 9562: a 48-bit millisecond timestamp, the version 7, a
 * 12-bit counter, the variant 10 and 62 random bits from the CSPRNG), greater than every id made
 * before it by this process, so that a batch's ids land in order at the end of the event_id index.
 */
export function newEventId(): string {
  if (next === random.length) {
    randomFillSync(random);
    next = 0;
  }
  const at = next;
  next += BYTES_PER_ID;
  const now = Date.now();
  if (now > lastMilliseconds || now + 10_000 < lastMilliseconds) {
    setTimestamp(now);
    counter = ((random[at + 8]! << 8) | random[at + 9]!) & 0x7ff;
  } else if (++counter > 0xfff) {
    setTimestamp(lastMilliseconds + 1);
    counter = 0;
  }
  return (
    `${timestampText}${COUNTER_TEXT[counter]}-${HEX[0x80 | (random[at]! & 0x3f)]}${HEX[random[at + 1]!]}-` +
    `${HEX[random[at + 2]!]}${HEX[random[at + 3]!]}${HEX[random[at + 4]!]}${HEX[random[at + 5]!]}${HEX[random[at + 6]!]}${HEX[random[at + 7]!]}`
  );
}
