import snapshotsContract from '../contract/snapshots.contract.js';
import { asApplicationRoles, server } from '../support/engines.js';

snapshotsContract(server);
snapshotsContract(asApplicationRoles(server));
