// pg returns int8 as a string, PGlite as a number (or BigInt): every mapped integer goes through here.
export function toInteger(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') return Number.parseInt(value, 10);
  throw new TypeError(`Expected an integer from the database, got ${typeof value}`);
}

export function toIntegerOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toInteger(value);
}

export function toDate(value: unknown): Date {
  return value instanceof Date ? value : new Date(String(value));
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

export function toJson<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}
