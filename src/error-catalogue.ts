import {
  ConcurrencyError,
  DataDirInUseError,
  DuplicateEventError,
  EmbeddedConnectionBusyError,
  ImmutableEventsError,
  InvalidArgumentError,
  InvalidCursorError,
  InvalidEventError,
  LiveTableTouchedError,
  MigrationChecksumError,
  PgEventsError,
  ProjectionDefinitionError,
  ProjectionHandlerError,
  RebuildConflictError,
  RebuildFailedError,
  RebuildRefusedError,
  ReplayRefusedError,
  SchemaNewerThanCodeError,
  SchemaNotInstalledError,
  ServerVersionError,
  StreamArchivedError,
  DirectPartitionWriteError,
  ForeignStreamError,
  TenantModeError,
  StreamTombstonedError,
  SubscriptionDefinitionError,
  SubscriptionFailedError,
  SubscriptionInUseError,
  SubscriptionStateError,
  SubscriptionStoppedError,
  SwapTimeoutError,
  UnknownProjectionError,
  UnknownSubscriptionError,
} from './errors.js';

/**
 * How the CLI ends on an error: `failed` (exit code 1: the operation failed or was refused),
 * `usage` (2: the command line or its input is malformed), `unavailable` (3: the store cannot be used).
 */
export type ErrorExit = 'failed' | 'usage' | 'unavailable';

/** The docs page whose error table holds an error's row. */
export type ErrorDocsPage = 'errors.md' | 'subscriptions.md' | 'rebuild.md';

/** One error of the catalogue. */
export interface ErrorCatalogueEntry {
  /** The stable `code` its instances carry. */
  readonly code: string;
  /** The class pgevents throws it as. */
  readonly errorClass: abstract new (...args: never[]) => PgEventsError;
  /** The SQLSTATE (of pgevents' own class `PE`) SQL raises it with, or null when only TypeScript raises it. */
  readonly sqlState: `PE${string}` | null;
  /** How the CLI ends on it. */
  readonly exit: ErrorExit;
  /** The docs page (under docs/) whose error table has its row. */
  readonly docs: ErrorDocsPage;
}

/**
 * Every error pgevents raises on purpose: its `code`, class, SQLSTATE, CLI exit and docs page, kept
 * here and nowhere else. SQL's raise sites, the translation of database errors, the CLI's exit codes
 * and the docs' error tables are checked against it (test/unit/error-catalogue.test.ts).
 */
export const errorCatalogue = [
  { code: 'CONCURRENCY', errorClass: ConcurrencyError, sqlState: 'PE001', exit: 'failed', docs: 'errors.md' },
  { code: 'IMMUTABLE_EVENTS', errorClass: ImmutableEventsError, sqlState: 'PE002', exit: 'failed', docs: 'errors.md' },
  { code: 'INVALID_EVENT', errorClass: InvalidEventError, sqlState: 'PE003', exit: 'usage', docs: 'errors.md' },
  { code: 'DUPLICATE_EVENT', errorClass: DuplicateEventError, sqlState: 'PE004', exit: 'failed', docs: 'errors.md' },
  { code: 'UNKNOWN_PROJECTION', errorClass: UnknownProjectionError, sqlState: 'PE005', exit: 'failed', docs: 'errors.md' },
  { code: 'INVALID_PROJECTION', errorClass: ProjectionDefinitionError, sqlState: 'PE006', exit: 'failed', docs: 'errors.md' },
  { code: 'PROJECTION_FAILED', errorClass: ProjectionHandlerError, sqlState: 'PE007', exit: 'failed', docs: 'errors.md' },
  { code: 'REPLAY_REFUSED', errorClass: ReplayRefusedError, sqlState: 'PE008', exit: 'failed', docs: 'errors.md' },
  { code: 'INVALID_CURSOR', errorClass: InvalidCursorError, sqlState: 'PE009', exit: 'usage', docs: 'subscriptions.md' },
  { code: 'UNKNOWN_SUBSCRIPTION', errorClass: UnknownSubscriptionError, sqlState: 'PE010', exit: 'failed', docs: 'subscriptions.md' },
  { code: 'INVALID_SUBSCRIPTION', errorClass: SubscriptionDefinitionError, sqlState: 'PE011', exit: 'failed', docs: 'subscriptions.md' },
  { code: 'SUBSCRIPTION_STATE', errorClass: SubscriptionStateError, sqlState: 'PE012', exit: 'failed', docs: 'subscriptions.md' },
  { code: 'REBUILD_REFUSED', errorClass: RebuildRefusedError, sqlState: 'PE020', exit: 'failed', docs: 'errors.md' },
  { code: 'REBUILD_CONFLICT', errorClass: RebuildConflictError, sqlState: 'PE021', exit: 'failed', docs: 'errors.md' },
  { code: 'LIVE_TABLE_TOUCHED', errorClass: LiveTableTouchedError, sqlState: 'PE022', exit: 'failed', docs: 'errors.md' },
  { code: 'SWAP_TIMEOUT', errorClass: SwapTimeoutError, sqlState: 'PE023', exit: 'failed', docs: 'errors.md' },
  { code: 'REBUILD_FAILED', errorClass: RebuildFailedError, sqlState: 'PE024', exit: 'failed', docs: 'errors.md' },
  { code: 'INVALID_ARGUMENT', errorClass: InvalidArgumentError, sqlState: 'PE025', exit: 'usage', docs: 'errors.md' },
  { code: 'STREAM_TOMBSTONED', errorClass: StreamTombstonedError, sqlState: 'PE030', exit: 'failed', docs: 'errors.md' },
  { code: 'STREAM_ARCHIVED', errorClass: StreamArchivedError, sqlState: 'PE031', exit: 'failed', docs: 'errors.md' },
  { code: 'DIRECT_PARTITION_WRITE', errorClass: DirectPartitionWriteError, sqlState: 'PE032', exit: 'failed', docs: 'errors.md' },
  { code: 'FOREIGN_STREAM', errorClass: ForeignStreamError, sqlState: 'PE040', exit: 'failed', docs: 'errors.md' },
  { code: 'TENANT_MODE', errorClass: TenantModeError, sqlState: 'PE041', exit: 'failed', docs: 'errors.md' },
  { code: 'SUBSCRIPTION_IN_USE', errorClass: SubscriptionInUseError, sqlState: null, exit: 'failed', docs: 'subscriptions.md' },
  { code: 'SUBSCRIPTION_FAILED', errorClass: SubscriptionFailedError, sqlState: null, exit: 'failed', docs: 'subscriptions.md' },
  { code: 'SUBSCRIPTION_STOPPED', errorClass: SubscriptionStoppedError, sqlState: null, exit: 'failed', docs: 'subscriptions.md' },
  { code: 'EMBEDDED_CONNECTION_BUSY', errorClass: EmbeddedConnectionBusyError, sqlState: null, exit: 'failed', docs: 'subscriptions.md' },
  { code: 'SCHEMA_NOT_INSTALLED', errorClass: SchemaNotInstalledError, sqlState: null, exit: 'unavailable', docs: 'errors.md' },
  { code: 'SCHEMA_NEWER_THAN_CODE', errorClass: SchemaNewerThanCodeError, sqlState: null, exit: 'unavailable', docs: 'errors.md' },
  { code: 'MIGRATION_CHANGED', errorClass: MigrationChecksumError, sqlState: null, exit: 'unavailable', docs: 'errors.md' },
  { code: 'SERVER_TOO_OLD', errorClass: ServerVersionError, sqlState: null, exit: 'unavailable', docs: 'errors.md' },
  { code: 'DATA_DIR_IN_USE', errorClass: DataDirInUseError, sqlState: null, exit: 'unavailable', docs: 'errors.md' },
] as const satisfies readonly ErrorCatalogueEntry[];

/** An entry of the catalogue, with its literal types. */
export type CatalogueEntry = (typeof errorCatalogue)[number];

/** The entries SQL raises, one per SQLSTATE. */
export type RaisedEntry = Extract<CatalogueEntry, { sqlState: string }>;

const byCode = new Map<string, CatalogueEntry>(errorCatalogue.map((entry) => [entry.code, entry]));
const bySqlState = new Map<string, RaisedEntry>(
  errorCatalogue.flatMap((entry) => (entry.sqlState === null ? [] : [[entry.sqlState, entry] as const])),
);

/** The catalogue's entry for an error `code`, if it has one. */
export function catalogueEntryForCode(code: string): CatalogueEntry | undefined {
  return byCode.get(code);
}

/** The catalogue's entry for a SQLSTATE pgevents' SQL raises (`PE…`), if it has one. */
export function catalogueEntryForSqlState(sqlState: string): RaisedEntry | undefined {
  return bySqlState.get(sqlState);
}
