import asyncProjectionsContract from '../contract/subscriptions-projections.contract.js';
import { isolatedServer } from '../contract/subscriptions.contract.js';

asyncProjectionsContract(isolatedServer);
