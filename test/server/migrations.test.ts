import migrationsContract from '../contract/migrations.contract.js';
import { server } from '../support/engines.js';

migrationsContract(server);
