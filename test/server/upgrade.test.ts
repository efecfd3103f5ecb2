import pg from 'pg';
import { openEventStore } from '../../src/index.js';
import { createServerDatabase, dropServerDatabase, server } from '../support/engines.js';
import { createEmptyDatabase } from '../support/race-helpers.js';
import { clientSession, type UpgradeDatabase, upgradeSuite } from '../support/released-migrations.js';
import { cleanUp, connectAs, createLoginRoles, dropRoles, uniqueRoleName } from '../support/roles.js';
import { databaseUrl } from '../support/server-url.js';

/** The owner's connection to the database `name` at `url`; other roles log in with connections of their own. */
async function serverDatabase(name: string, url: string): Promise<UpgradeDatabase> {
  const owner = new pg.Client({ connectionString: url });
  owner.on('error', () => undefined);
  await owner.connect();
  return {
    session: clientSession(owner),
    catalogue: owner,
    open: () => openEventStore({ url }),
    async asRole(role, fn) {
      const client = await connectAs(url, role);
      try {
        return await fn(clientSession(client));
      } finally {
        await client.end();
      }
    },
    dispose: () =>
      cleanUp(
        () => owner.end(),
        () => dropServerDatabase(name),
      ),
  };
}

upgradeSuite({
  name: 'server',
  get unavailable() {
    return server.unavailable;
  },
  async createRoles() {
    const roles = { writer: uniqueRoleName('writer'), reader: uniqueRoleName('reader') };
    await createLoginRoles([roles.writer, roles.reader]);
    return roles;
  },
  dropRoles: (roles) => dropRoles([roles.writer, roles.reader]),
  async emptyDatabase() {
    const { name, url } = await createEmptyDatabase();
    return serverDatabase(name, url);
  },
  async freshDatabase() {
    const name = await createServerDatabase();
    return serverDatabase(name, databaseUrl(name));
  },
});
