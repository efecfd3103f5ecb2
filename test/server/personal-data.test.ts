import personalDataContract from '../contract/personal-data.contract.js';
import { asApplicationRoles, server } from '../support/engines.js';

personalDataContract(server);
personalDataContract(asApplicationRoles(server));
