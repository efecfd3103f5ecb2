export { EventStore, openEventStore } from './event-store.js';
export type { OpenEventStoreOptions } from './event-store.js';
export * from './errors.js';
export { catalogueEntryForCode, errorCatalogue } from './error-catalogue.js';
export type { ErrorCatalogueEntry, ErrorDocsPage, ErrorExit } from './error-catalogue.js';
export type * from './types.js';
export type * from './command/types.js';
export { formatCursor, parseCursor } from './store/cursor.js';
export type { Cursor } from './store/cursor.js';
export type { GrantOptions } from './security/grant.js';
export type { ImportEventsOptions, ImportEventsResult, ImportFormat, ImportProgress, ImportSource } from './import/import-events.js';
export type { ListStreamsOptions, ListStreamsResult, StreamSummary } from './store/streams.js';
export type {
  StreamLifecycleOperation,
  StreamLifecycleOptions,
  StreamLifecycleState,
  StreamState,
  TruncateStreamBeforeOptions,
} from './store/lifecycle.js';
export type { Erasure, ForgetOptions, ForgetResult, ListErasuresOptions, PersonalDataDeclaration, PersonalDataSubject } from './store/personal-data.js';
export type { EventLayout, PartitionEventsOptions, PartitionEventsResult } from './store/partitions.js';
export type { ReadAllBackwardOptions } from './store/read-backward.js';
export type { AppendsPerMinute } from './status/appends-per-minute.js';
export type {
  ListProjectionTablesOptions,
  ProjectionRowsPage,
  ProjectionTable,
  ReadProjectionRowsOptions,
} from './projections/projection-tables.js';
export type { StorePermissions } from './status/permissions.js';
export { prometheusText } from './status/metrics.js';
export { backupEmbeddedStore, restoreEmbeddedStore } from './db/backup.js';
export type { BackupResult } from './db/backup.js';
export type { MetricFamily, MetricSample } from './status/metrics.js';
export type { EventTypeDeclaration } from './store/declared-types.js';
export {
  createTenantStores,
  DEFAULT_TENANT_PREFIX,
  listTenantStores,
  migrateTenantStores,
  tenantSchema,
} from './tenants/tenants.js';
export type {
  MigrateTenantStoresOptions,
  MigrateTenantStoresResult,
  TenantFailure,
  TenantMigrated,
  TenantProgress,
  TenantStoreInfo,
  TenantStoresOptions,
} from './tenants/tenants.js';
