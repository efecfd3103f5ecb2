import type { Queryable } from '../db/executor.js';
import { InvalidArgumentError } from '../errors.js';

export interface GrantOptions {
  /** Roles that append (append_events, plain INSERT into events) and read. */
  writers?: string[];
  /** Roles that read events and read models. */
  readers?: string[];
}

// PostgreSQL truncates a role name to 63 bytes: two names that differ only after that would name
// the same role, so a long name could grant access to a role nobody meant.
const MAX_ROLE_NAME_BYTES = 63;

/** @throws {InvalidArgumentError} unless the role name is one PostgreSQL would take as given. */
function assertRoleName(role: unknown): asserts role is string {
  if (typeof role !== 'string' || role === '' || role.includes('\u0000') || Buffer.byteLength(role, 'utf8') > MAX_ROLE_NAME_BYTES) {
    throw new InvalidArgumentError('role', `Invalid role name: ${JSON.stringify(String(role)).slice(0, 80)}`, {
      hint: `A role name is 1 to ${MAX_ROLE_NAME_BYTES} bytes, without NUL characters; create the role first.`,
    });
  }
}

/**
 * Grants the least-privilege writer and reader access (SQL grant_writer / grant_reader). The roles
 * must exist; read models defined later are granted to them too.
 * @throws {InvalidArgumentError} for no roles, or a name longer than 63 bytes or holding NUL.
 */
export async function grantRoles(db: Queryable, schema: string, options: GrantOptions): Promise<void> {
  const writers: unknown = options.writers ?? [];
  const readers: unknown = options.readers ?? [];
  if (!Array.isArray(writers) || !Array.isArray(readers)) {
    throw new InvalidArgumentError('roles', 'Name the writer and reader roles as arrays of role names', {
      hint: "e.g. store.grant({ writers: ['app_writer'], readers: ['app_reader'] })",
    });
  }
  if (writers.length === 0 && readers.length === 0) {
    throw new InvalidArgumentError('roles', 'Name at least one writer or reader role', {
      hint: 'e.g. pgevents grant --writer app_writer --reader app_reader',
    });
  }
  for (const role of [...writers, ...readers]) assertRoleName(role);
  for (const role of writers) await db.query(`select ${schema}.grant_writer($1)`, [role]);
  for (const role of readers) await db.query(`select ${schema}.grant_reader($1)`, [role]);
}
