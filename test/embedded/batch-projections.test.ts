import batchProjectionsContract from '../contract/batch-projections.contract.js';
import { embedded } from '../support/engines.js';

batchProjectionsContract(embedded);
