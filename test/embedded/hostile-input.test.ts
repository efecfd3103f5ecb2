import hostileInputContract from '../contract/hostile-input.contract.js';
import { embedded } from '../support/engines.js';

hostileInputContract(embedded);
