/**
 * JSON text that names a key twice in one object. `JSON.parse` keeps the last of them and jsonb does
 * too, silently: the raw-text ways into pgevents (the CLI's arguments, imported files, the console's
 * requests) refuse it instead, since one of the two values is lost and nobody can tell which was meant.
 */
export class DuplicateKeyError extends SyntaxError {
  /** The key named twice. */
  readonly key: string;
  /** Where the object that names it twice is, from the top (the root's name first, when given): keys and array indexes. */
  readonly path: (string | number)[];

  constructor(key: string, path: (string | number)[]) {
    const where = path.length === 0 ? '' : ` (in ${formatJsonPath(path)})`;
    super(`the key ${JSON.stringify(key.slice(0, 60))} appears twice in one object${where}`);
    this.name = 'DuplicateKeyError';
    this.key = key;
    this.path = path;
  }
}

/** A path in a JSON value as JavaScript would write it: `body.items[2]["a key"]`; a long one with its middle left out. */
export function formatJsonPath(path: (string | number)[]): string {
  const written = path.map((step, index) => {
    if (typeof step === 'number') return `[${step}]`;
    if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(step)) return index === 0 ? step : `.${step}`;
    return `[${JSON.stringify(step.slice(0, 60))}]`;
  });
  if (written.length <= 12) return written.join('');
  return `${written.slice(0, 3).join('')}…(${written.length - 11} more)…${written.slice(-8).join('')}`;
}

/** Where the string literal that opens at `start` (a `"`) closes, in valid JSON text. */
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes += 1;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

/** Whether the next character after `from` that is not JSON whitespace is a colon: the string before it was a key. */
function colonFollows(text: string, from: number): boolean {
  let index = from;
  let code = text.charCodeAt(index);
  while (code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09) code = text.charCodeAt(++index);
  return code === 0x3a;
}

/** How many members the objects of valid JSON text have, counted in the text. */
function membersInText(text: string): number {
  let members = 0;
  for (let start = text.indexOf('"'); start !== -1; ) {
    const end = stringEnd(text, start);
    if (colonFollows(text, end + 1)) members += 1;
    start = text.indexOf('"', end + 1);
  }
  return members;
}

/**
 * How many keys the objects of a parsed JSON value have; null past 1,000 levels of nesting (then
 * the text is scanned instead, which needs no stack).
 */
function keysInValue(value: object, depth = 0): number | null {
  if (depth > 1000) return null;
  let keys = 0;
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) {
      if (typeof item !== 'object' || item === null) continue;
      const inner = keysInValue(item, depth + 1);
      if (inner === null) return null;
      keys += inner;
    }
    return keys;
  }
  for (const key in value) {
    keys += 1;
    const item = (value as Record<string, unknown>)[key];
    if (typeof item !== 'object' || item === null) continue;
    const inner = keysInValue(item, depth + 1);
    if (inner === null) return null;
    keys += inner;
  }
  return keys;
}

/** The first key that valid JSON text names twice in one object, and where that object is. */
function findDuplicateKey(text: string, root: (string | number)[]): DuplicateKeyError | undefined {
  // The open objects and arrays, outermost first: an object's keys so far (an array: null), its
  // last key, or for an array the commas so far (the index of its current element), and its place
  // in its parent.
  const open: { keys: Set<string> | null; lastKey: string; commas: number; step: string | number }[] = [];
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    const top = open.at(-1);
    if (code === 0x22) {
      const end = stringEnd(text, index);
      if (top?.keys && colonFollows(text, end + 1)) {
        const key = JSON.parse(text.slice(index, end + 1)) as string;
        if (top.keys.has(key)) return new DuplicateKeyError(key, [...root, ...open.slice(1).map((entry) => entry.step)]);
        top.keys.add(key);
        top.lastKey = key;
      }
      index = end;
    } else if (code === 0x7b || code === 0x5b) {
      const step = top === undefined ? '' : top.keys === null ? top.commas : top.lastKey;
      open.push({ keys: code === 0x7b ? new Set() : null, lastKey: '', commas: 0, step });
    } else if (code === 0x7d || code === 0x5d) {
      open.pop();
    } else if (code === 0x2c && top) {
      top.commas += 1;
    }
  }
  return undefined;
}

/**
 * Parses JSON text as `JSON.parse` does, but refuses an object that names a key twice. Costs one
 * scan of the text for its string literals (native `indexOf`) and one walk of the parsed value:
 * a key is repeated exactly when the text has more members than the value has keys.
 * @param root what the text is (e.g. `body`), for the error to say where the key is
 * @throws {SyntaxError} for text that is not JSON (`JSON.parse`'s error)
 * @throws {DuplicateKeyError} for an object that names a key twice
 * @example parseJsonText('{"a": 1, "a": 2}', 'body') // throws: the key "a" appears twice in one object (in body)
 */
export function parseJsonText(text: string, root?: string): unknown {
  const value: unknown = JSON.parse(text);
  if (typeof value === 'object' && value !== null && keysInValue(value) !== membersInText(text)) {
    const duplicate = findDuplicateKey(text, root === undefined ? [] : [root]);
    if (duplicate) throw duplicate;
  }
  return value;
}
