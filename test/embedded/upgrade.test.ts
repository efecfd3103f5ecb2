import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, inject } from 'vitest';
import { openEventStore } from '../../src/index.js';
import { pgliteSession, type StoreRoles, type UpgradeDatabase, upgradeSuite } from '../support/released-migrations.js';

// A fresh PGlite data dir takes seconds to initialise: make an empty one once, and load it per state.
let emptyDump: Blob | undefined;
beforeAll(async () => {
  const pglite = await PGlite.create();
  emptyDump = await pglite.dumpDataDir('gzip');
  await pglite.close();
});
afterAll(() => {
  emptyDump = undefined;
});

/** One PGlite instance per database; the roles exist in it, and asRole switches to them with SET ROLE. */
async function pgliteDatabase(dump: Blob, roles: StoreRoles): Promise<UpgradeDatabase> {
  const pglite = await PGlite.create({ loadDataDir: dump });
  const session = pgliteSession(pglite);
  await session.script(`create role ${roles.writer}; create role ${roles.reader};`);
  return {
    session,
    catalogue: pglite,
    open: () => openEventStore({ pglite }),
    async asRole(role, fn) {
      await session.query(`select set_config('role', $1, false)`, [role]);
      try {
        return await fn(session);
      } finally {
        await session.script('reset role');
      }
    },
    dispose: () => pglite.close(),
  };
}

upgradeSuite({
  name: 'embedded',
  unavailable: null,
  createRoles: () => Promise.resolve({ writer: 'app_writer', reader: 'app_reader' }),
  dropRoles: () => Promise.resolve(),
  emptyDatabase(roles) {
    if (!emptyDump) throw new Error('the empty data dir is not ready');
    return pgliteDatabase(emptyDump, roles);
  },
  freshDatabase: (roles) => pgliteDatabase(new Blob([readFileSync(inject('pgliteDump'))]), roles),
});
