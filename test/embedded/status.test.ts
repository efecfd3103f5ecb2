import statusContract from '../contract/status.contract.js';
import { embedded } from '../support/engines.js';

statusContract(embedded);
