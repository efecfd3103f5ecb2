import tenantRlsContract from '../contract/tenant-rls.contract.js';
import { embedded } from '../support/engines.js';

tenantRlsContract(embedded);
