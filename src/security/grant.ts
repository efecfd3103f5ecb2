import type { Queryable } from '../db/executor.js';
import { InvalidArgumentError } from '../errors.js';

export interface GrantOptions {
  /** Roles that append (append_events, plain INSERT into events) and read. */
  writers?: string[];
  /** Roles that read events and read models. */
  readers?: string[];
}

/**
 * Grants the least-privilege writer and reader access (SQL grant_writer / grant_reader). The roles
 * must exist; read models defined later are granted to them too.
 */
export async function grantRoles(db: Queryable, schema: string, options: GrantOptions): Promise<void> {
  const writers = options.writers ?? [];
  const readers = options.readers ?? [];
  if (writers.length === 0 && readers.length === 0) {
    throw new InvalidArgumentError('roles', 'Name at least one writer or reader role', {
      hint: 'e.g. pgevents grant --writer app_writer --reader app_reader',
    });
  }
  for (const role of writers) await db.query(`select ${schema}.grant_writer($1)`, [role]);
  for (const role of readers) await db.query(`select ${schema}.grant_reader($1)`, [role]);
}
