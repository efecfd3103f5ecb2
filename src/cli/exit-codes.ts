import { catalogueEntryForCode, type ErrorExit, PgEventsError } from '../index.js';

/** The CLI's exit codes (documented in docs/errors.md and docs/cli.md). */
export const ExitCode = {
  ok: 0,
  /** The operation was refused or failed (a concurrency conflict, a failing projection, …). */
  failed: 1,
  /** The command line or its input is malformed. */
  usage: 2,
  /** The store cannot be used: unreachable, in use, or its schema missing or newer than this code. */
  unavailable: 3,
  /** A check found differences (verify). */
  differences: 4,
} as const;

const exitCodes: Record<ErrorExit, number> = {
  failed: ExitCode.failed,
  usage: ExitCode.usage,
  unavailable: ExitCode.unavailable,
};

const connectionCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', '28P01', '28000', '3D000']);

/**
 * The exit code for an error: for a pgevents error, its catalogue entry's (src/error-catalogue.ts);
 * 3 for a failed connection; else 1.
 */
export function exitCodeFor(error: unknown): number {
  if (error instanceof PgEventsError) return exitCodes[catalogueEntryForCode(error.code)?.exit ?? 'failed'];
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && connectionCodes.has(code)) return ExitCode.unavailable;
  return ExitCode.failed;
}

/** One readable line (and a hint) for a user mistake; a stack trace only with PGEVENTS_DEBUG=1. */
export function describeError(error: unknown): { code: string; message: string; hint?: string } {
  if (error instanceof PgEventsError) {
    return { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) };
  }
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message || String(error) : String(error);
  if (typeof code === 'string' && connectionCodes.has(code)) {
    return {
      code: 'CONNECTION_FAILED',
      message: `Cannot connect to the database: ${message}`,
      hint: 'Check --database-url / DATABASE_URL, or leave both out to use the embedded engine.',
    };
  }
  const hint = (error as { hint?: unknown } | null)?.hint;
  return {
    code: typeof code === 'string' ? code : 'ERROR',
    message,
    ...(typeof hint === 'string' && hint ? { hint } : {}),
  };
}
