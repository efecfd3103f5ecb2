import eventTypeVersionsContract from '../contract/event-type-versions.contract.js';
import { asApplicationRoles, server } from '../support/engines.js';

eventTypeVersionsContract(server);
eventTypeVersionsContract(asApplicationRoles(server));
