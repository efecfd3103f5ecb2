/**
 * Splits an SQL script into its top-level statements: semicolons inside comments, quoted strings
 * and dollar-quoted bodies (functions, DO blocks, generated code) do not end a statement.
 */
export function sqlStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  while (i < script.length) {
    const char = script[i]!;
    if (char === '-' && script[i + 1] === '-') {
      const end = script.indexOf('\n', i);
      i = end < 0 ? script.length : end + 1;
    } else if (char === "'") {
      i += 1;
      while (i < script.length && !(script[i] === "'" && script[i + 1] !== "'")) i += script[i] === "'" ? 2 : 1;
      i += 1;
    } else if (char === '$' && /^\$[A-Za-z_]*\$/.test(script.slice(i))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(script.slice(i))![0];
      const end = script.indexOf(tag, i + tag.length);
      i = end < 0 ? script.length : end + tag.length;
    } else if (char === ';') {
      statements.push(script.slice(start, i + 1));
      start = i + 1;
      i += 1;
    } else {
      i += 1;
    }
  }
  if (script.slice(start).trim() !== '') statements.push(script.slice(start));
  return statements.map((statement) => statement.replace(/^(\s*--[^\n]*\n)*/g, '').replace(/^(\s|--[^\n]*\n)*/, '').trim());
}
