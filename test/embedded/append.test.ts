import appendContract from '../contract/append.contract.js';
import { embedded } from '../support/engines.js';

appendContract(embedded);
