import asyncProjectionsContract from '../contract/subscriptions-projections.contract.js';
import { embedded } from '../support/engines.js';

asyncProjectionsContract(embedded);
