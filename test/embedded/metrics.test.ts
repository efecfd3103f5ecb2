import metricsContract from '../contract/metrics.contract.js';
import { embedded } from '../support/engines.js';

metricsContract(embedded);
