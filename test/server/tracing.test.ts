import tracingContract from '../contract/tracing.contract.js';
import { server } from '../support/engines.js';

tracingContract(server);
