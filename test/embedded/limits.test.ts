import limitsContract from '../contract/limits.contract.js';
import { embedded } from '../support/engines.js';

limitsContract(embedded);
