/**
 * Migrating many tenant stores (issue 16), alone: see bench/lib/tenants.ts. `npm run bench` runs
 * the same measurement (unless --no-tenants). One throwaway database on the server.
 *
 *   node --import tsx bench/tenants.ts [--tenants 1000] [--concurrency 4]
 */
import { parseArgs } from 'node:util';
import { measureTenantMigrations, tenantSummary } from './lib/tenants.js';

const { values } = parseArgs({ options: { tenants: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '4' } } });
const measured = await measureTenantMigrations(
  { tenants: Number(values.tenants), concurrency: Number(values.concurrency) },
  (line) => console.log(line),
);
console.log('');
for (const line of tenantSummary(measured)) console.log(line);
