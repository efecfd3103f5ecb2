import tenantRlsContract from '../contract/tenant-rls.contract.js';
import { server } from '../support/engines.js';

tenantRlsContract(server);
