import migrationsContract from '../contract/migrations.contract.js';
import { embedded } from '../support/engines.js';

migrationsContract(embedded);
