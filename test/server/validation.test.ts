import validationContract from '../contract/validation.contract.js';
import { server } from '../support/engines.js';

validationContract(server);
