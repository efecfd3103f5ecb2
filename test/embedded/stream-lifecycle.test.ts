import streamLifecycleContract from '../contract/stream-lifecycle.contract.js';
import { embedded } from '../support/engines.js';

streamLifecycleContract(embedded);
