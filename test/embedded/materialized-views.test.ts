import materializedViewsContract from '../contract/materialized-views.contract.js';
import { embedded } from '../support/engines.js';

materializedViewsContract(embedded);
