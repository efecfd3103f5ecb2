// The contracts of the log, run again on stores whose events table is partitioned (four hash
// partitions by stream, some with an archive partition too): every guarantee must hold there too.
import appendContract from '../contract/append.contract.js';
import importContract from '../contract/import.contract.js';
import personalDataContract from '../contract/personal-data.contract.js';
import plainSqlContract from '../contract/plain-sql.contract.js';
import projectionsContract from '../contract/projections.contract.js';
import readContract from '../contract/read.contract.js';
import rebuildContract from '../contract/rebuild.contract.js';
import replayContract from '../contract/replay.contract.js';
import snapshotsContract from '../contract/snapshots.contract.js';
import streamLifecycleContract from '../contract/stream-lifecycle.contract.js';
import subscriptionsContract from '../contract/subscriptions.contract.js';
import { asApplicationRoles, partitioned, server } from '../support/engines.js';

appendContract(partitioned(server));
plainSqlContract(partitioned(server));
readContract(partitioned(server));
projectionsContract(partitioned(server));
replayContract(partitioned(server));
rebuildContract(partitioned(server));
snapshotsContract(asApplicationRoles(partitioned(server)));
importContract(partitioned(server));
streamLifecycleContract(asApplicationRoles(partitioned(server)));
streamLifecycleContract(asApplicationRoles(partitioned(server, 4, { archivePartition: true })));
subscriptionsContract(partitioned(server, 0, { archivePartition: true }));
projectionsContract(partitioned(server, 0, { archivePartition: true }));
personalDataContract(asApplicationRoles(partitioned(server)));
subscriptionsContract(asApplicationRoles(partitioned(server)));
