/** Where a command writes: plain text for people, one JSON document with --json. */
export interface Output {
  readonly json: boolean;
  /** A line for people (suppressed with --json). */
  line(text?: string): void;
  /** The command's result: printed as JSON with --json, otherwise by `human`. */
  result(value: unknown, human: () => void): void;
}

export function createOutput(json: boolean, stdout: NodeJS.WritableStream = process.stdout): Output {
  return {
    json,
    line(text = '') {
      if (!json) stdout.write(`${text}\n`);
    },
    result(value, human) {
      if (json) stdout.write(`${JSON.stringify(value, null, 2)}\n`);
      else human();
    },
  };
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A plain text table: a header, a rule, one line per row. */
export function formatTable(rows: Record<string, unknown>[], columns?: string[]): string {
  const names = columns ?? Object.keys(rows[0] ?? {});
  if (names.length === 0) return '(no rows)';
  const cells = rows.map((row) => names.map((name) => cell(row[name])));
  const widths = names.map((name, index) => Math.max(name.length, ...cells.map((line) => line[index]?.length ?? 0)));
  const render = (values: string[]) => values.map((value, index) => value.padEnd(widths[index] ?? 0)).join('  ').trimEnd();
  return [render(names), render(widths.map((width) => '-'.repeat(width))), ...cells.map(render)].join('\n') +
    (rows.length === 0 ? '\n(no rows)' : '');
}
