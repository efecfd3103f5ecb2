import hostileInputContract from '../contract/hostile-input.contract.js';
import { server } from '../support/engines.js';

hostileInputContract(server);
