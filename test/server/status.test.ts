import statusContract from '../contract/status.contract.js';
import { server } from '../support/engines.js';

statusContract(server);
