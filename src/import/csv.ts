import { Readable } from 'node:stream';
import { CsvError, type Info, parse } from 'csv-parse';
import { InvalidEventError } from '../errors.js';
import { ACCEPTED_FIELDS, type EventFields, fieldOf, type ImportRow, toImportRow } from './event-fields.js';
import { type Line, MAX_LINE_BYTES } from './lines.js';

type Column = keyof EventFields | null;

/** The header row: which field each column holds (null: a column to ignore). @throws {InvalidEventError} */
function parseHeader(names: string[], line: number): Column[] {
  const columns = names.map((name) => fieldOf(name.trim(), line));
  const seen = new Set<string>();
  for (const column of columns) {
    if (column === null) continue;
    if (seen.has(column)) {
      throw new InvalidEventError(`Invalid CSV header on line ${line}: two columns give the ${column}`, {
        field: column,
        line,
        hint: `Give each of ${ACCEPTED_FIELDS} at most once.`,
      });
    }
    seen.add(column);
  }
  for (const required of ['stream', 'type', 'body'] as const) {
    if (!seen.has(required)) {
      throw new InvalidEventError(`Invalid CSV header on line ${line}: no ${required === 'stream' ? 'stream (or uuid)' : required} column`, {
        field: required,
        line,
        hint: 'The first row names the columns, e.g. stream,type,body,metadata,id.',
      });
    }
  }
  return columns;
}

async function* withLineBreaks(lines: AsyncIterable<Line>): AsyncGenerator<string> {
  for await (const line of lines) yield `${line.text}\n`;
}

/**
 * The events of CSV text (RFC 4180: quoted fields may hold commas, quotes as "" and line breaks):
 * a header row, then one event a record. body and metadata are JSON text; empty optional cells
 * count as absent; empty lines are skipped.
 */
export async function* csvRows(lines: AsyncIterable<Line>): AsyncGenerator<ImportRow> {
  const parser = parse({ info: true, skip_empty_lines: true, max_record_size: MAX_LINE_BYTES });
  const input = Readable.from(withLineBreaks(lines));
  // An error of the input (e.g. a line that is not UTF-8) ends the parse with that error.
  input.on('error', (error) => parser.destroy(error));
  input.pipe(parser);
  let columns: Column[] | undefined;
  let previousEnd = 0;
  let previousEmpty = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: Info }>) {
      // info.lines is the line a record ends on; it starts after the previous one and the empty lines skipped since.
      const line = previousEnd + 1 + (info.empty_lines - previousEmpty);
      previousEnd = info.lines;
      previousEmpty = info.empty_lines;
      if (!columns) {
        columns = parseHeader(record, line);
        continue;
      }
      const fields: EventFields = {};
      record.forEach((cell, index) => {
        const column = columns?.[index];
        if (column && cell !== '') fields[column] = cell;
      });
      yield toImportRow(fields, line, 'text');
    }
  } catch (error) {
    if (error instanceof CsvError) {
      const line = typeof error.lines === 'number' ? error.lines : undefined;
      // csv-parse names the line in its message too: once is enough.
      const message = error.message.replace(/ (?:on|at) line \d+/, '');
      throw new InvalidEventError(`Invalid CSV${line === undefined ? '' : ` on line ${line}`}: ${message}`, {
        ...(line === undefined ? {} : { line }),
        hint:
          'Quote fields that hold commas, quotes or line breaks ("..."), doubling the quotes inside; ' +
          'give every row as many fields as the header.',
        cause: error,
      });
    }
    throw error;
  } finally {
    input.destroy();
    parser.destroy();
  }
}
