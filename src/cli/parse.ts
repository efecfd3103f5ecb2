import { DuplicateKeyError, parseJsonText } from '../import/json-text.js';
import { InvalidArgumentError } from '../index.js';
import type { ExpectedVersion, JsonObject } from '../index.js';

/**
 * Parses a JSON argument, refusing an object that names a key twice (JSON would keep only the last).
 * @throws {InvalidArgumentError} naming the argument (and the repeated key).
 */
export function parseJsonArgument(name: string, text: string): unknown {
  try {
    return parseJsonText(text, name.replace(/^-+/, ''));
  } catch (error) {
    if (error instanceof DuplicateKeyError) {
      throw new InvalidArgumentError(name, `Invalid ${name}: ${error.message}`, {
        hint: 'Give each key once: JSON keeps only the last of them, so one value would be lost.',
      });
    }
    throw new InvalidArgumentError(name, `Invalid ${name}: not valid JSON (${(error as Error).message})`, {
      hint: `Quote the JSON for your shell, e.g. '{"name": "Ada"}'.`,
    });
  }
}

export function parseJsonObjectArgument(name: string, text: string): JsonObject {
  const value = parseJsonArgument(name, text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(name, `Invalid ${name}: expected a JSON object, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`);
  }
  return value as JsonObject;
}

export function parseExpectedVersion(text: string | undefined): ExpectedVersion | undefined {
  if (text === undefined) return undefined;
  if (text === 'any' || text === 'no_stream' || text === 'stream_exists') return text;
  if (/^\d{1,15}$/.test(text)) return Number(text);
  throw new InvalidArgumentError('--expected-version', `Invalid --expected-version: ${text}`, {
    hint: "Use any, no_stream, stream_exists or a non-negative integer.",
  });
}

export function parseInteger(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,15}$/.test(text) || Number(text) < min) {
    throw new InvalidArgumentError(name, `Invalid ${name}: ${text} is not an integer of at least ${min}`);
  }
  return Number(text);
}
