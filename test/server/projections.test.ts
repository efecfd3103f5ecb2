import projectionsContract from '../contract/projections.contract.js';
import { server } from '../support/engines.js';

projectionsContract(server);
