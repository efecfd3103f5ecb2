import partitionedEventsContract from '../contract/partitioned-events.contract.js';
import appendContract from '../contract/append.contract.js';
import plainSqlContract from '../contract/plain-sql.contract.js';
import projectionsContract from '../contract/projections.contract.js';
import replayContract from '../contract/replay.contract.js';
import streamLifecycleContract from '../contract/stream-lifecycle.contract.js';
import { embedded, partitioned } from '../support/engines.js';

partitionedEventsContract(embedded);

// The contracts of the log, again on a partitioned log (four hash partitions by stream).

appendContract(partitioned(embedded));
plainSqlContract(partitioned(embedded));
projectionsContract(partitioned(embedded));
replayContract(partitioned(embedded));
streamLifecycleContract(partitioned(embedded, 4, { archivePartition: true }));
