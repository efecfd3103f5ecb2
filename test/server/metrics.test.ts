import metricsContract from '../contract/metrics.contract.js';
import { asApplicationRoles, server } from '../support/engines.js';

metricsContract(server);
metricsContract(asApplicationRoles(server));
