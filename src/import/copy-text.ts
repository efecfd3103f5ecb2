import type { ImportRow } from './event-fields.js';

/** The columns of the table an import is loaded into, in COPY order. */
export const IMPORT_COLUMNS = 'ord, uuid, type, body, metadata, event_id, type_version';

/** A chunk sent to COPY is at most this many characters, whatever the batch size, so that memory stays bounded. */
const MAX_CHUNK_CHARS = 8 * 1024 * 1024;

const SPECIAL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

// COPY's text format: tab-separated columns, one row a line, \N for null, backslash escapes.
function escape(value: string): string {
  return value.replace(SPECIAL, (character) => ESCAPES[character] ?? character);
}

function copyLine(row: ImportRow): string {
  const metadata = row.metadata === null ? '\\N' : escape(row.metadata);
  return `${row.line}\t${row.stream}\t${row.type}\t${escape(row.body)}\t${metadata}\t${row.id ?? '\\N'}\t${row.typeVersion ?? '\\N'}\n`;
}

/**
 * The rows as COPY text-format data, in chunks of at most `batchSize` rows (and 8 MiB). Only one
 * chunk is held at a time; `onChunk` is told how many rows have been handed over so far.
 */
export async function* copyChunks(
  rows: AsyncIterable<ImportRow>,
  batchSize: number,
  onChunk: (rows: number) => void,
): AsyncGenerator<string> {
  let parts: string[] = [];
  let chars = 0;
  let handedOver = 0;
  for await (const row of rows) {
    const line = copyLine(row);
    parts.push(line);
    chars += line.length;
    if (parts.length >= batchSize || chars >= MAX_CHUNK_CHARS) {
      const count = parts.length;
      yield parts.join('');
      parts = [];
      chars = 0;
      handedOver += count;
      onChunk(handedOver);
    }
  }
  if (parts.length > 0) {
    const count = parts.length;
    yield parts.join('');
    onChunk(handedOver + count);
  }
}
