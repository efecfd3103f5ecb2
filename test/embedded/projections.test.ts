import projectionsContract from '../contract/projections.contract.js';
import { embedded } from '../support/engines.js';

projectionsContract(embedded);
