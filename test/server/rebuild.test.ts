import rebuildContract from '../contract/rebuild.contract.js';
import { server } from '../support/engines.js';

rebuildContract(server);
