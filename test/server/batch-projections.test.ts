import batchProjectionsContract from '../contract/batch-projections.contract.js';
import { server } from '../support/engines.js';

batchProjectionsContract(server);
