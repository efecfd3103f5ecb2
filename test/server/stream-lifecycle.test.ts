import streamLifecycleContract from '../contract/stream-lifecycle.contract.js';
import { asApplicationRoles, server } from '../support/engines.js';

streamLifecycleContract(server);
streamLifecycleContract(asApplicationRoles(server));
