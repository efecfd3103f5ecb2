import plainSqlContract from '../contract/plain-sql.contract.js';
import { embedded } from '../support/engines.js';

plainSqlContract(embedded);
