import readContract from '../contract/read.contract.js';
import { server } from '../support/engines.js';

readContract(server);
