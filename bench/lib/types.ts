/** Shared types of the benchmark suite. */

/** One event as every system under test receives it. */
export interface BenchEvent {
  type: 'user_create' | 'user_update';
  body: { name: string };
}

/** A batch of events for one stream: what one transaction appends. */
export interface Batch {
  /** The stream (= the user's uuid). */
  stream: string;
  events: BenchEvent[];
  /** How many of these events are user_create (0 or 1): the read model gains that many rows. */
  creates: number;
}

/** The measured modes, in the order they run and are reported. */
export const MODES = ['seq1', 'conc8', 'batch100', 'bulk', 'replay', 'rebuild', 'growth'] as const;
export type ModeId = (typeof MODES)[number];

/** What `npm run bench` measures without --modes: every mode but growth (minutes per 10M events). */
export const DEFAULT_MODES: ModeId[] = MODES.filter((m) => m !== 'growth');

export interface ModeInfo {
  id: ModeId;
  title: string;
  /** Events per transaction for the append modes. */
  batchSize?: number;
  /** Concurrent connections for the append modes. */
  connections?: number;
}

export const MODE_INFO: Record<ModeId, ModeInfo> = {
  seq1: { id: 'seq1', title: '1 event per transaction, sequential', batchSize: 1, connections: 1 },
  conc8: { id: 'conc8', title: '1 event per transaction, 8 connections', batchSize: 1, connections: 8 },
  batch100: { id: 'batch100', title: '100 events per transaction', batchSize: 100, connections: 1 },
  bulk: { id: 'bulk', title: 'bulk load (COPY)' },
  replay: { id: 'replay', title: "replay through the projection's handlers" },
  rebuild: { id: 'rebuild', title: 'set-based rebuild (INSERT … SELECT DISTINCT ON)' },
  growth: { id: 'growth', title: 'growth: appends, reads, catch-up, replay and rebuild in stores already holding N events' },
};

/** One connection's way to append: one call is one transaction. */
export interface Writer {
  append(batch: Batch): Promise<void>;
  close(): Promise<void>;
}

/** What a system reports about its own state, to check that the benchmark did what it claims. */
export interface Counts {
  events: number;
  /** Rows in the users read model, or null for a system without a projection. */
  users: number | null;
}

/** A measured operation: how many events it handled and how long it took (seconds). */
export interface Timed {
  events: number;
  seconds: number;
}

export interface BulkSource {
  /** Total number of events. */
  total: number;
  /** Number of distinct streams (users) in the load. */
  streams: number;
  /** COPY text-format rows `uuid\ttype\tbody\n`, in chunks. */
  copyRows(): Iterable<string>;
}

/**
 * A system under test. Each one owns its own database (see SystemContext.databaseUrl), so systems
 * never interfere with each other.
 */
export interface SystemUnderTest {
  /** Short stable id (used in JSON and as part of the database name). */
  readonly id: string;
  /** Column header for the table. */
  readonly label: string;
  /** Does the system maintain the users read model? */
  readonly projects: boolean;
  /** Modes this system cannot run, with the reason shown in place of a number. */
  readonly unsupported: Partial<Record<ModeId, string>>;

  /** Create the schema in an empty database. */
  setup(): Promise<void>;
  /** Open one writer (one connection, or one handle onto a pool for a client library). */
  openWriter(): Promise<Writer>;
  /**
   * Load the events in one statement (COPY). Timed as the bulk mode unless `unsupported.bulk` is set;
   * then it only loads the data that the replay and rebuild modes read.
   */
  load?(source: BulkSource): Promise<Timed>;
  /** Rebuild the users read model from all stored events, event by event, in one transaction. */
  replay?(): Promise<Timed>;
  /** Rebuild the users read model in one set-based statement. */
  rebuild?(): Promise<Timed>;
  counts(): Promise<Counts>;
  /** Close every connection the system holds (not its database; the runner drops that). */
  close(): Promise<void>;
}

export interface SystemContext {
  /** Connection string of the system's own database (unused by embedded systems). */
  databaseUrl: string;
  /** A fresh scratch directory of the system's own (for an embedded engine's data). */
  workDir: string;
}

export type SystemFactory = (ctx: SystemContext) => SystemUnderTest;

export interface SystemDescriptor {
  id: string;
  label: string;
  /** Short description for the README and JSON. */
  description: string;
  /** null when available; else why the system is left out of this run. */
  unavailable?: () => Promise<string | null>;
  /** Set for systems that run in-process, not against the PostgreSQL server. */
  embedded?: boolean;
  create: SystemFactory;
}
