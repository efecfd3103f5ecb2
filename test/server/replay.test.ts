import replayContract from '../contract/replay.contract.js';
import { server } from '../support/engines.js';

replayContract(server);
