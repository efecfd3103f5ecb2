import partitionedEventsContract from '../contract/partitioned-events.contract.js';
import { embedded } from '../support/engines.js';

partitionedEventsContract(embedded);
