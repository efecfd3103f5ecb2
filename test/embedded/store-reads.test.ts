import storeReadsContract from '../contract/store-reads.contract.js';
import { embedded } from '../support/engines.js';

storeReadsContract(embedded);
