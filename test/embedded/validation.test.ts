import validationContract from '../contract/validation.contract.js';
import { embedded } from '../support/engines.js';

validationContract(embedded);
