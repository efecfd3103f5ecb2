import importContract from '../contract/import.contract.js';
import { embedded } from '../support/engines.js';

importContract(embedded);
