import plainSqlContract from '../contract/plain-sql.contract.js';
import { server } from '../support/engines.js';

plainSqlContract(server);
