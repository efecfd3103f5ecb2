import appendContract from '../contract/append.contract.js';
import { server } from '../support/engines.js';

appendContract(server);
