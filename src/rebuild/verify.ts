import type { Executor } from '../db/executor.js';
import { toInteger, toJson } from '../db/normalize.js';
import { InvalidArgumentError } from '../errors.js';
import { assertProjectionName } from '../projections/projections.js';
import { assertInteger } from '../store/validate.js';
import type { VerifyOptions, VerifyResult, VerifyTableResult } from '../types.js';

type Row = Record<string, unknown>;

interface VerifyJson {
  projection: string;
  equal: boolean;
  ignored_columns: string[];
  tables: {
    table: string;
    live_rows: number;
    rebuilt_rows: number;
    missing: number;
    extra: number;
    different: number;
    key: string[] | null;
    samples: { missing: Row[]; extra: Row[]; different: { live: Row; rebuilt: Row }[] };
  }[];
}

/**
 * Rebuilds a projection into a scratch copy and compares it with the live tables, both read at one
 * REPEATABLE READ snapshot, so appends go on meanwhile and cause no false differences.
 */
export async function verifyProjection(
  executor: Executor,
  schema: string,
  name: string,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  assertProjectionName(name);
  const sampleSize = assertInteger('sampleSize', options.sampleSize ?? 10, 0, 10_000);
  const ignoreColumns = options.ignoreColumns ?? [];
  if (!Array.isArray(ignoreColumns) || ignoreColumns.some((column) => typeof column !== 'string' || column === '')) {
    throw new InvalidArgumentError('ignoreColumns', 'Invalid ignoreColumns: expected an array of column names');
  }
  const report = await executor.transaction(async (tx) => {
    await tx.query('set transaction isolation level repeatable read');
    const [row] = await tx.query<{ result: unknown }>(
      `select ${schema}.verify_projection($1, $2::text[], $3) as result`,
      [name, ignoreColumns.length > 0 ? ignoreColumns : null, sampleSize],
    );
    return toJson<VerifyJson>(row?.result);
  });
  return {
    projection: report.projection,
    equal: report.equal,
    ignoredColumns: report.ignored_columns,
    tables: report.tables.map(
      (table): VerifyTableResult => ({
        table: table.table,
        liveRows: toInteger(table.live_rows),
        rebuiltRows: toInteger(table.rebuilt_rows),
        missing: toInteger(table.missing),
        extra: toInteger(table.extra),
        different: toInteger(table.different),
        key: table.key,
        samples: table.samples,
      }),
    ),
  };
}
