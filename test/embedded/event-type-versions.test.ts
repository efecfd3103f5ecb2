import eventTypeVersionsContract from '../contract/event-type-versions.contract.js';
import { embedded } from '../support/engines.js';

eventTypeVersionsContract(embedded);
