import importContract from '../contract/import.contract.js';
import { server } from '../support/engines.js';

importContract(server);
