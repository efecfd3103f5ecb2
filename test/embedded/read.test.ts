import readContract from '../contract/read.contract.js';
import { embedded } from '../support/engines.js';

readContract(embedded);
