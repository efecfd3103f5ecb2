import declaredTypesContract from '../contract/declared-types.contract.js';
import { embedded } from '../support/engines.js';

declaredTypesContract(embedded);
