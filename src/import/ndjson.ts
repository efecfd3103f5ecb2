import { InvalidEventError } from '../errors.js';
import { type EventFields, fieldOf, type ImportRow, toImportRow } from './event-fields.js';
import { DuplicateKeyError, parseJsonText } from './json-text.js';
import type { Line } from './lines.js';

/** The event on one NDJSON line. @throws {InvalidEventError} naming the line. */
function parseLine(line: Line): ImportRow {
  let value: unknown;
  try {
    value = parseJsonText(line.text);
  } catch (error) {
    if (error instanceof DuplicateKeyError) {
      const field = error.path[0] ?? error.key;
      throw new InvalidEventError(`Invalid event on line ${line.number}: ${error.message}`, {
        field: String(field),
        line: line.number,
        hint: 'Give each key once: JSON keeps only the last of them, so one value would be lost.',
      });
    }
    throw new InvalidEventError(`Invalid event on line ${line.number}: not valid JSON (${(error as Error).message})`, {
      line: line.number,
      hint: 'Each line holds one event as a JSON object, e.g. {"stream": "<uuid>", "type": "user_create", "body": {}}.',
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const what = Array.isArray(value) ? 'an array' : JSON.stringify(value).slice(0, 60);
    throw new InvalidEventError(`Invalid event on line ${line.number}: expected a JSON object, not ${what}`, {
      line: line.number,
      hint: 'Each line holds one event as a JSON object; `pgevents read --json` prints an array: turn it into lines first, e.g. with jq -c ".[]".',
    });
  }
  const fields: EventFields = {};
  const names: Partial<Record<keyof EventFields, string>> = {};
  for (const [name, field] of Object.entries(value)) {
    const target = fieldOf(name, line.number);
    if (target === null) continue;
    // null stands for an absent optional field, as it does in SQL.
    if (field === null && (target === 'metadata' || target === 'id' || target === 'typeVersion')) continue;
    if (fields[target] !== undefined && JSON.stringify(fields[target]) !== JSON.stringify(field)) {
      throw new InvalidEventError(`Invalid event on line ${line.number}: ${names[target]} and ${name} differ`, {
        field: target,
        line: line.number,
        hint: 'Give the stream as stream or uuid, and the event id as id or eventId; both only with the same value.',
      });
    }
    fields[target] = field;
    names[target] = name;
  }
  return toImportRow(fields, line.number, 'parsed');
}

/** The events of NDJSON text, one JSON object a line; blank lines are skipped. */
export async function* ndjsonRows(lines: AsyncIterable<Line>): AsyncGenerator<ImportRow> {
  for await (const line of lines) {
    if (line.text.trim() === '') continue;
    yield parseLine(line);
  }
}
