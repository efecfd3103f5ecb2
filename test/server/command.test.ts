import commandContract from '../contract/command.contract.js';
import { asApplicationRoles, server } from '../support/engines.js';

commandContract(server);
commandContract(asApplicationRoles(server));
