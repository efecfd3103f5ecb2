import snapshotsContract from '../contract/snapshots.contract.js';
import { embedded } from '../support/engines.js';

snapshotsContract(embedded);
