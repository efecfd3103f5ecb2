import materializedViewsContract from '../contract/materialized-views.contract.js';
import { server } from '../support/engines.js';

materializedViewsContract(server);
