import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Executor, Queryable } from '../db/executor.js';
import { toInteger, toIntegerOrNull } from '../db/normalize.js';
import { DuplicateEventError, InvalidArgumentError, SchemaNotInstalledError } from '../errors.js';
import { assertInteger } from '../store/validate.js';
import { copyChunks, IMPORT_COLUMNS } from './copy-text.js';
import { csvRows } from './csv.js';
import { readLines } from './lines.js';
import { ndjsonRows } from './ndjson.js';

/** What an import reads: a file path, or a stream (or async iterable) of UTF-8 text, e.g. `process.stdin`. */
export type ImportSource = string | AsyncIterable<string | Uint8Array>;

/** `ndjson`: one JSON object a line. `csv`: a header row, then one event a row. */
export type ImportFormat = 'ndjson' | 'csv';

/** Where an import is, told after each chunk loaded and once when the events are being stored. */
export interface ImportProgress {
  /** `loading`: reading, checking and loading the file; `importing`: storing the events, running the projections. */
  phase: 'loading' | 'importing';
  /** Events read and checked so far. */
  events: number;
  /** Bytes of the input read and checked so far. */
  bytes: number;
  /** The size of the file, when the source is one; null for a stream. */
  totalBytes: number | null;
}

export interface ImportEventsOptions {
  /** Default: from the file's extension (`.ndjson`, `.jsonl`, `.csv`); required for a stream. */
  format?: ImportFormat;
  /** Events per COPY chunk, default 10,000; a chunk is also cut at 8 MiB. */
  batchSize?: number;
  onProgress?: (progress: ImportProgress) => void;
}

export interface ImportEventsResult {
  /** Events stored. */
  imported: number;
  /** Events not stored because their id is already stored in their stream (an earlier run of the import). */
  skipped: number;
  /** Streams the input names. */
  streams: number;
  /** Positions of the first and last event stored; null when none was. */
  firstPosition: number | null;
  lastPosition: number | null;
}

const DEFAULT_BATCH_SIZE = 10_000;

const EXTENSIONS: Record<string, ImportFormat> = { '.ndjson': 'ndjson', '.jsonl': 'ndjson', '.csv': 'csv' };

/** The format asked for, or the one a file's extension names. @throws {InvalidArgumentError} */
function formatOf(source: ImportSource, format: unknown): ImportFormat {
  if (format === 'ndjson' || format === 'csv') return format;
  if (format !== undefined) {
    throw new InvalidArgumentError('format', `Invalid format: ${JSON.stringify(format)}`, { hint: "Use 'ndjson' or 'csv'." });
  }
  const inferred = typeof source === 'string' ? EXTENSIONS[extname(source).toLowerCase()] : undefined;
  if (inferred) return inferred;
  throw new InvalidArgumentError(
    'format',
    typeof source === 'string'
      ? `Cannot tell the format of ${source} from its extension`
      : 'Cannot tell the format of a stream',
    { hint: "Give the format, 'ndjson' or 'csv' (--format in the CLI), or name the file .ndjson, .jsonl or .csv." },
  );
}

interface OpenedSource {
  chunks: AsyncIterable<string | Uint8Array>;
  totalBytes: number | null;
  close(): Promise<void>;
}

function cannotRead(path: string, reason: unknown): InvalidArgumentError {
  const code = typeof reason === 'string' ? reason : ((reason as NodeJS.ErrnoException).code ?? (reason as Error).message);
  return new InvalidArgumentError('source', `Cannot read ${path}: ${code}`);
}

/** Opens a file (streamed, never read whole) or takes a stream as it is. @throws {InvalidArgumentError} */
async function openSource(source: ImportSource): Promise<OpenedSource> {
  if (typeof source === 'string') {
    const handle = await open(source, 'r').catch((error: unknown) => {
      throw cannotRead(source, error);
    });
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw cannotRead(source, 'EISDIR');
      const stream = handle.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false });
      return {
        chunks: stream,
        totalBytes: stat.isFile() ? stat.size : null,
        async close() {
          stream.destroy();
          await handle.close();
        },
      };
    } catch (error) {
      await handle.close();
      throw error instanceof InvalidArgumentError ? error : cannotRead(source, error);
    }
  }
  if (typeof source === 'object' && source !== null && Symbol.asyncIterator in source) {
    return { chunks: source, totalBytes: null, close: async () => undefined };
  }
  throw new InvalidArgumentError('source', 'Invalid import source: expected a file path, or a stream or async iterable of text');
}

/** Fails early, before the file is read, on a store without import_events (installed before 0006). */
async function assertInstalled(executor: Executor, schema: string): Promise<void> {
  const [row] = await executor.query<{ installed: boolean }>('select to_regprocedure($1) is not null as installed', [
    `${schema}.import_events(regclass)`,
  ]);
  if (row?.installed !== true) throw new SchemaNotInstalledError(schema);
}

/**
 * A duplicate event id fails the whole import; the rows of the part being stored (still in
 * `table`) tell which line has it: one whose id another transaction stored in another stream, one
 * whose id an earlier part of this import stored, or one that repeats an earlier line's id.
 */
async function explainDuplicate(tx: Queryable, schema: string, table: string, cause: DuplicateEventError): Promise<DuplicateEventError> {
  const [stored] = await tx.query<{ line: unknown; event_id: string; stream: string; stored_stream: string; this_import: boolean }>(
    `select t.ord as line, t.event_id, t.uuid as stream, e.uuid as stored_stream,
            e.transaction_id = pg_current_xact_id() as this_import
       from ${table} t join ${schema}.events e on e.event_id = t.event_id
      where e.uuid <> t.uuid or e.transaction_id = pg_current_xact_id()
      order by t.ord limit 1`,
  );
  if (stored?.this_import === true) {
    const line = toInteger(stored.line);
    return new DuplicateEventError(`Duplicate event id on line ${line}: an earlier line has the same event id ${stored.event_id}`, {
      stream: String(stored.stream),
      line,
      hint: 'Give each event an id of its own (or none). Nothing was imported.',
      cause,
    });
  }
  if (stored) {
    const line = toInteger(stored.line);
    return new DuplicateEventError(
      `Duplicate event id on line ${line}: event ${stored.event_id} is already stored in stream ${stored.stored_stream}, ` +
        `not in ${stored.stream}`,
      {
        stream: String(stored.stream),
        line,
        hint: 'An event id belongs to one stream: give the event a new id (or none). Nothing was imported.',
        cause,
      },
    );
  }
  const [repeated] = await tx.query<{ line: unknown; first: unknown; event_id: string; stream: string }>(
    `select r.ord as line, r.first, r.event_id, r.uuid as stream
       from (select t.ord, t.event_id, t.uuid, min(t.ord) over (partition by t.event_id) as first
               from ${table} t where t.event_id is not null) r
      where r.ord > r.first
      order by r.ord limit 1`,
  );
  if (repeated) {
    const line = toInteger(repeated.line);
    return new DuplicateEventError(
      `Duplicate event id on line ${line}: line ${toInteger(repeated.first)} has the same event id ${repeated.event_id}`,
      { stream: String(repeated.stream), line, hint: 'Give each event an id of its own (or none). Nothing was imported.', cause },
    );
  }
  return cause;
}

interface PartResult {
  imported: number;
  skipped: number;
  firstPosition: number | null;
  lastPosition: number | null;
}

/**
 * Stores the part of an import loaded into `table` with one call of import_events. A savepoint
 * first, so that after a duplicate id the part's rows are still there to say which line has it.
 */
async function storePart(tx: Queryable, schema: string, table: string): Promise<PartResult> {
  await tx.query('savepoint pgevents_import');
  let row: Record<string, unknown> | undefined;
  try {
    [row] = await tx.query(`select * from ${schema}.import_events($1::regclass)`, [table]);
  } catch (error) {
    if (!(error instanceof DuplicateEventError)) throw error;
    await tx.query('rollback to savepoint pgevents_import');
    throw await explainDuplicate(tx, schema, table, error);
  }
  return {
    imported: toInteger(row?.imported),
    skipped: toInteger(row?.skipped),
    firstPosition: toIntegerOrNull(row?.first_position),
    lastPosition: toIntegerOrNull(row?.last_position),
  };
}

/**
 * Imports events from NDJSON or CSV, all in one transaction: every line is checked and the lines
 * are loaded in parts of `batchSize` by COPY into a temporary table, each part appended to its
 * streams (after their current versions, in file order) by one call of import_events. The server
 * stores a part while the next one is read and checked here. Bad input stores nothing.
 */
export async function importEvents(
  executor: Executor,
  schema: string,
  source: ImportSource,
  options: ImportEventsOptions = {},
): Promise<ImportEventsResult> {
  const format = formatOf(source, options.format);
  const batchSize = options.batchSize === undefined ? DEFAULT_BATCH_SIZE : assertInteger('batchSize', options.batchSize, 1, 1_000_000);
  await assertInstalled(executor, schema);
  const input = await openSource(source);
  let bytes = 0;
  let events = 0;
  const report = (phase: ImportProgress['phase']) => options.onProgress?.({ phase, events, bytes, totalBytes: input.totalBytes });
  try {
    const lines = readLines(input.chunks, (read) => {
      bytes += read;
    });
    const rows = format === 'csv' ? csvRows(lines) : ndjsonRows(lines);
    return await executor.transaction(async (tx) => {
      const suffix = randomBytes(8).toString('hex');
      const table = `pg_temp.pgevents_import_${suffix}`;
      const named = `pg_temp.pgevents_import_streams_${suffix}`;
      await tx.script(
        `create temp table pgevents_import_${suffix} (ord bigint, uuid uuid, type text, body jsonb, metadata jsonb, event_id uuid, type_version int) on commit drop;
         create temp table pgevents_import_streams_${suffix} (uuid uuid) on commit drop`,
      );
      const total: PartResult = { imported: 0, skipped: 0, firstPosition: null, lastPosition: null };
      const add = (part: PartResult) => {
        total.imported += part.imported;
        total.skipped += part.skipped;
        total.firstPosition ??= part.firstPosition;
        total.lastPosition = part.lastPosition ?? total.lastPosition;
      };
      // The part being stored; its failure is seen when the next part is loaded, or at the end.
      let storing: Promise<void> | null = null;
      const settle = async () => {
        const part = storing;
        storing = null;
        if (part) await part;
      };
      try {
        for await (const part of copyChunks(rows, batchSize, (loaded) => {
          events = loaded;
          report('loading');
        })) {
          await settle();
          await tx.script(`insert into ${named} select distinct uuid from ${table}; truncate ${table}`);
          await tx.copyFrom(`${table} (${IMPORT_COLUMNS})`, single(part));
          const stored: Promise<void> = storePart(tx, schema, table).then(add);
          stored.catch(() => undefined);
          storing = stored;
        }
        report('importing');
        await settle();
      } finally {
        // A failed read leaves a part perhaps still being stored: wait for it before the rollback.
        await (storing as Promise<void> | null)?.catch(() => undefined);
      }
      const [counted] = await tx.query<{ streams: unknown }>(
        `select count(distinct uuid) as streams from (select uuid from ${named} union all select uuid from ${table}) s`,
      );
      return { ...total, streams: toInteger(counted?.streams) };
    });
  } finally {
    await input.close();
  }
}

async function* single(text: string): AsyncGenerator<string> {
  yield text;
}
