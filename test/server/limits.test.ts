import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import limitsContract from '../contract/limits.contract.js';
import { countEvents } from '../contract/fixtures.js';
import { server, type TestStore } from '../support/engines.js';
import { connectAs, createLoginRoles, dropRoles, uniqueRoleName } from '../support/roles.js';

limitsContract(server);

describe.skipIf(server.unavailable !== null)('limits for a writer role (server)', () => {
  const writer = uniqueRoleName('writer');
  let t: TestStore;
  let client: pg.Client;

  beforeAll(async () => {
    t = await server.createStore();
    await createLoginRoles([writer]);
    await t.store.grant({ writers: [writer] });
    client = await connectAs(t.url!, writer);
  });
  afterAll(async () => {
    await client?.end();
    await t?.dispose();
    await dropRoles([writer]);
  });

  const deep = `${'{"d":'.repeat(1001)}1${'}'.repeat(1001)}`;

  /** What a statement of the writer's failed with: SQLSTATE, constraint and message. */
  async function failure(sql: string, params: unknown[]): Promise<Record<string, unknown>> {
    try {
      await client.query(sql, params);
    } catch (error) {
      const { code, constraint, message } = error as { code: string; constraint?: string; message: string };
      return { code, constraint, message };
    }
    throw new Error('expected the statement to fail');
  }

  it("checks the writer's plain INSERT with PostgreSQL's own functions: the constraint refuses, not a missing grant", async () => {
    const before = await countEvents(t.store);
    expect(await failure(`insert into pgevents.events (uuid, type, body) values ($1, 'limit_test', $2::jsonb)`, [randomUUID(), deep])).toMatchObject({
      code: '23514',
      constraint: 'events_body_depth',
    });
    await client.query(`insert into pgevents.events (uuid, type, body) values ($1, 'limit_test', '{"ok": true}')`, [randomUUID()]);
    expect(await countEvents(t.store)).toBe(before + 1);
  });

  it("refuses the writer's import_events row with its ord and stream", async () => {
    const stream = randomUUID();
    await client.query('begin');
    try {
      await client.query('create temporary table staging (ord bigint, uuid uuid, type text, body jsonb, metadata jsonb, event_id uuid) on commit drop');
      await client.query(`insert into staging values (7, $1, 'limit_test', $2::jsonb, null, null)`, [stream, deep]);
      expect(await failure(`select * from pgevents.import_events('staging')`, [])).toMatchObject({
        code: 'PE003',
        message: `Invalid event at ord 7: body is nested 1001 levels deep, more than the limit of 1000 (Stream: ${stream})`,
      });
    } finally {
      await client.query('rollback');
    }
  });
});
