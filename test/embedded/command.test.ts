import commandContract from '../contract/command.contract.js';
import { embedded } from '../support/engines.js';

commandContract(embedded);
