import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openEventStore } from '../../src/index.js';
import personalDataContract from '../contract/personal-data.contract.js';
import { asApplicationRoles, server } from '../support/engines.js';
import { cleanUp, createLoginRoles, dropRoles, uniqueRoleName, urlAs } from '../support/roles.js';

personalDataContract(server);
personalDataContract(asApplicationRoles(server));

describe.skipIf(server.unavailable !== null)('personal data: two stores of two owners in one database (server)', () => {
  it('share one pgcrypto, installed by the first, in a schema of its own; each store encrypts and decrypts with it', async () => {
    const t = await server.createStore();
    const other = uniqueRoleName('owner');
    let second: Awaited<ReturnType<typeof openEventStore>> | undefined;
    try {
      await t.store.declarePersonalData({ type: 'pd_first', fields: ['email'], subject: 'stream' });
      await createLoginRoles([other]);
      await t.store.execScript(`grant create on database ${pg.escapeIdentifier(new URL(t.url!).pathname.slice(1))} to ${pg.escapeIdentifier(other)}`);
      second = await openEventStore({ url: urlAs(t.url!, other), schema: 'pd_second', migrate: true });
      await second.declarePersonalData({ type: 'pd_second', fields: ['email'], subject: 'stream' });
      const stream = randomUUID();
      await second.append(stream, [{ type: 'pd_second', body: { email: 'second@example.org' } }]);
      expect((await second.readStream(stream))[0]!.body).toEqual({ email: 'second@example.org' });
      const [raw] = await second.query<{ body: { email: Record<string, unknown> } }>('select body from pd_second.events where uuid = $1', [stream]);
      expect(raw!.body.email).toMatchObject({ $pgevents: 'encrypted' });
      const extensions = await t.store.query<{ schema: string }>(`select extnamespace::regnamespace::text as schema from pg_extension where extname = 'pgcrypto'`);
      expect(extensions).toEqual([{ schema: 'pgcrypto' }]);
    } finally {
      await cleanUp(
        () => second?.close(),
        () => t.store.execScript(`drop schema if exists pd_second cascade; drop schema if exists pd_second_snapshots cascade; drop owned by ${pg.escapeIdentifier(other)}`).catch(() => undefined),
        () => dropRoles([other]),
        () => t.dispose(),
      );
    }
  });
});
