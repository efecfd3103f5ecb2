import asyncProjectionsContract from '../contract/subscriptions-projections.contract.js';
import subscriptionsContract, { isolatedServer } from '../contract/subscriptions.contract.js';
import { asApplicationRoles } from '../support/engines.js';

// The subscription and async projection suites again, run by an application role granted writer
// and subscriber access, with resets, skips and resumes done by an operator role.
const asSubscriber = asApplicationRoles(isolatedServer);
subscriptionsContract(asSubscriber);
asyncProjectionsContract(asSubscriber);
