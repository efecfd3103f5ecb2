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

  it("refuses the writer's plain INSERT of a body too deep (the trigger checks it), and stores an ordinary one", async () => {
    const before = await countEvents(t.store);
    const stream = randomUUID();
    expect(await failure(`insert into pgevents.events (uuid, type, body) values ($1, 'limit_test', $2::jsonb)`, [stream, deep])).toEqual({
      code: 'PE003',
      constraint: undefined,
      message: `Invalid event: body is nested 1001 levels deep, more than the limit of 1000 (Stream: ${stream}, Version: 1)`,
    });
    await client.query(`insert into pgevents.events (uuid, type, body) values ($1, 'limit_test', '{"ok": true}')`, [randomUUID()]);
    expect(await countEvents(t.store)).toBe(before + 1);
  });

  it("refuses the writer's import_events of a body too deep, naming the stream and version", async () => {
    const stream = randomUUID();
    await client.query('begin');
    try {
      await client.query('create temporary table staging (ord bigint, uuid uuid, type text, body jsonb, metadata jsonb, event_id uuid) on commit drop');
      await client.query(`insert into staging values (7, $1, 'limit_test', $2::jsonb, null, null)`, [stream, deep]);
      expect(await failure(`select * from pgevents.import_events('staging')`, [])).toMatchObject({
        code: 'PE003',
        message: `Invalid event: body is nested 1001 levels deep, more than the limit of 1000 (Stream: ${stream}, Version: 1)`,
      });
    } finally {
      await client.query('rollback');
    }
  });
});
