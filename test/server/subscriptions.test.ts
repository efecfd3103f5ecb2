import subscriptionsContract, { isolatedServer } from '../contract/subscriptions.contract.js';

subscriptionsContract(isolatedServer);
