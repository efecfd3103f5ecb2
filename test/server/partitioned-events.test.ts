import partitionedEventsContract from '../contract/partitioned-events.contract.js';
import { asApplicationRoles, server } from '../support/engines.js';

partitionedEventsContract(server);
partitionedEventsContract(asApplicationRoles(server));
