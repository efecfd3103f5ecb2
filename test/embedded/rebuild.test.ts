import rebuildContract from '../contract/rebuild.contract.js';
import { embedded } from '../support/engines.js';

rebuildContract(embedded);
