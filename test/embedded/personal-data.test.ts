import personalDataContract from '../contract/personal-data.contract.js';
import { embedded } from '../support/engines.js';

personalDataContract(embedded);
