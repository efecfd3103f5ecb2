import subscriptionsContract from '../contract/subscriptions.contract.js';
import { embedded } from '../support/engines.js';

subscriptionsContract(embedded);
