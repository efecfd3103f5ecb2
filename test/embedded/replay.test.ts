import replayContract from '../contract/replay.contract.js';
import { embedded } from '../support/engines.js';

replayContract(embedded);
