import type { SqlClient } from '../types.js';
import type { Queryable, Row } from './executor.js';
import { translateError } from './translate-error.js';

/** Wraps a caller's own client (pg or PGlite) so the store can run statements in its transaction. */
export function queryableFromClient(client: SqlClient, schema: string): Queryable {
  return {
    async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
      try {
        const result = await client.query(sql, [...params]);
        return result.rows as R[];
      } catch (error) {
        throw translateError(error, schema);
      }
    },
  };
}
