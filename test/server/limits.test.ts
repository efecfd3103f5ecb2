import limitsContract from '../contract/limits.contract.js';
import { server } from '../support/engines.js';

limitsContract(server);
