import tracingContract from '../contract/tracing.contract.js';
import { embedded } from '../support/engines.js';

tracingContract(embedded);
