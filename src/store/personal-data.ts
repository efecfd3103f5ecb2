import type { Executor, Queryable } from '../db/executor.js';
import { InvalidArgumentError } from '../errors.js';

/** Whose personal data a declared type's fields are: the event's stream, or a body or metadata field. */
export type PersonalDataSubject = 'stream' | `body.${string}` | `metadata.${string}`;

/** A declaration of personal data ({@link declarePersonalData}); see docs/personal-data.md. */
export interface PersonalDataDeclaration {
  type: string;
  /** Dot-separated paths in the body of the fields stored encrypted. */
  fields: string[];
  subject: PersonalDataSubject;
}

/** What {@link forgetSubject} did: the audit event's body, and what it changed. */
export interface ForgetResult {
  /** The ids of the deleted keys (what the encrypted fields of the subject's events name): the current one and any retired. */
  keys: number[];
  reason: string;
  forgottenBy: string;
  forgottenAt: Date;
  /** The trigger projections (snapshots included) replayed, so that their read models hold the erased values. */
  replayed: string[];
  /** The async projections reset to the start: their tables were emptied, and their runners apply the events again. */
  reset: string[];
  /** The unfinished online rebuilds cancelled (their shadow tables held plaintext): run them again. */
  rebuildsCancelled: string[];
  /** How many of the subject's values were replaced by `[erased]` in subscription and rebuild errors. */
  errorsRedacted: number;
  /**
   * The plain subscriptions that deliver declared types to other systems: forget cannot reach what
   * they delivered; erase the subject there too.
   */
  externalSubscriptions: string[];
  /**
   * The tables forget changed, compacted after its transaction: on the embedded engine rewritten
   * (VACUUM FULL), their statistics taken again and the old WAL removed, so that the data
   * directory (and a backup of it) holds neither the values nor the keys; on a server vacuumed
   * (VACUUM ANALYZE). See docs/personal-data.md.
   */
  compacted: string[];
}

export interface ForgetOptions {
  /** Why: required, kept in the audit event with who did it and when. */
  reason: string;
}

/** Declares a type's personal fields and their subject; see {@link EventStore.declarePersonalData}. */
export async function declarePersonalData(db: Queryable, schema: string, declaration: PersonalDataDeclaration): Promise<void> {
  if (!Array.isArray(declaration?.fields)) {
    throw new InvalidArgumentError('fields', 'fields must be an array of dot-separated paths in the body', {
      hint: "For example { type: 'UserRegistered', fields: ['email'], subject: 'body.userId' }.",
    });
  }
  await db.query(`select ${schema}.declare_personal_data($1, $2::text[], $3)`, [declaration.type, declaration.fields, declaration.subject]);
}

/** The declarations of personal data, by type. */
export async function personalDataDeclarations(db: Queryable, schema: string): Promise<PersonalDataDeclaration[]> {
  const rows = await db.query<{ type: string; fields: string[]; subject_source: string; subject_path: string | null }>(
    `select type, fields, subject_source, subject_path from ${schema}.personal_data_declarations order by type`,
  );
  return rows.map((row) => ({
    type: row.type,
    fields: row.fields,
    subject: (row.subject_source === 'stream' ? 'stream' : `${row.subject_source}.${row.subject_path}`) as PersonalDataSubject,
  }));
}

/** Forgets a data subject (crypto-shredding); see {@link EventStore.forget}. */
export async function forgetSubject(db: Executor, schema: string, subject: string, options: ForgetOptions): Promise<ForgetResult> {
  if (typeof subject !== 'string' || subject === '') {
    throw new InvalidArgumentError('subject', 'The subject to forget is missing', {
      hint: 'Pass the text of the declared subject field (or the stream id).',
    });
  }
  const reason = options?.reason;
  if (typeof reason !== 'string' || reason.trim() === '') {
    throw new InvalidArgumentError('reason', 'A reason is required: say why (it is kept in the audit event with who and when)', {
      hint: "Pass { reason: 'erasure request #123' } (CLI: --reason \"…\").",
    });
  }
  const [row] = await db.query<{ result: ForgetRow }>(`select ${schema}.forget_subject($1, $2) as result`, [subject, reason]);
  const result = row!.result;
  await compactAfterForget(db, result.tables);
  return {
    keys: result.keys.map(Number),
    reason: result.reason,
    forgottenBy: result.forgotten_by,
    forgottenAt: new Date(result.forgotten_at),
    replayed: result.replayed,
    reset: result.reset,
    rebuildsCancelled: result.rebuilds_cancelled,
    errorsRedacted: Number(result.errors_redacted),
    externalSubscriptions: result.external_subscriptions,
    compacted: result.tables,
  };
}

interface ForgetRow {
  keys: number[];
  reason: string;
  forgotten_by: string;
  forgotten_at: string;
  replayed: string[];
  reset: string[];
  rebuilds_cancelled: string[];
  errors_redacted: number;
  external_subscriptions: string[];
  tables: string[];
}

/**
 * Removes what the forget transaction left behind in the database's files, which VACUUM cannot do
 * inside it. The deleted key rows and the replaced read-model rows stay in their tables' pages as
 * dead tuples, ANALYZE may have sampled the values into pg_statistic, and the WAL segments written
 * since the last checkpoint hold the inserts of both (PostgreSQL recycles a WAL segment by renaming
 * it, contents and all). On the embedded engine, whose data directory is the backup, all of it is
 * removed: each table is rewritten (VACUUM FULL) and analyzed, pg_statistic is rewritten, and with
 * wal_recycle off a WAL switch and a checkpoint delete the old segments. On a server the WAL is
 * archived and replicated beyond reach, and VACUUM FULL would lock the read models: the tables are
 * vacuumed (their dead tuples become free space) and analyzed; docs/personal-data.md says what
 * remains and what the operator does.
 */
async function compactAfterForget(db: Executor, tables: string[]): Promise<void> {
  const existing = await db.query<{ name: string }>(
    'select distinct to_regclass(t)::text as name from unnest($1::text[]) t where to_regclass(t) is not null order by 1',
    [tables],
  );
  const names = existing.map((row) => row.name);
  if (db.engine === 'server') {
    for (const name of names) await db.query(`vacuum (analyze) ${name}`);
    return;
  }
  await db.session(async (session) => {
    // One statement a call: VACUUM refuses to run in the implicit transaction of a multi-statement script.
    for (const name of names) {
      await session.query(`vacuum full ${name}`);
      await session.query(`analyze ${name}`);
    }
    await session.query('vacuum full pg_catalog.pg_statistic');
    await session.query('set wal_recycle = off');
    try {
      await session.query('select pg_switch_wal()');
      await session.query('checkpoint');
    } finally {
      await session.query('reset wal_recycle');
    }
  });
}

/** Rotates a data subject's key; see {@link EventStore.rotateSubjectKey}. */
export async function rotateSubjectKey(db: Queryable, schema: string, subject: string): Promise<number> {
  if (typeof subject !== 'string' || subject === '') {
    throw new InvalidArgumentError('subject', 'The subject whose key to rotate is missing', {
      hint: 'Pass the text of the declared subject field (or the stream id).',
    });
  }
  const [row] = await db.query<{ retired: string }>(`select ${schema}.rotate_subject_key($1)::text as retired`, [subject]);
  return Number(row!.retired);
}

/** The store's audit stream, where forget appends its `pgevents.subject_forgotten` events. */
export const AUDIT_STREAM = '00000000-0000-0000-0000-0000000f0e75';

/** One erasure: a `pgevents.subject_forgotten` audit event ({@link forgetSubject}); it holds no personal data. */
export interface Erasure {
  /** The audit event's position. */
  position: number;
  /** The ids of the keys deleted. */
  keys: number[];
  reason: string;
  forgottenBy: string;
  forgottenAt: Date;
  replayed: string[];
  reset: string[];
  rebuildsCancelled: string[];
}

export interface ListErasuresOptions {
  /** Only the erasures whose keys encrypted fields of this stream's events. */
  stream?: string;
  /** At most this many, newest first (default 100). */
  limit?: number;
}

/** The erasures recorded by forget, newest first; see {@link EventStore.listErasures}. */
export async function listErasures(db: Queryable, schema: string, options: ListErasuresOptions = {}): Promise<Erasure[]> {
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new InvalidArgumentError('limit', `limit must be an integer from 1 to 10000, not ${String(limit)}`);
  }
  // For a stream: the key ids its events' encrypted fields name (read from the stored bodies, which
  // keep the ids of forgotten keys), matched with the keys each erasure deleted.
  const rows = await db.query<{ id: unknown; body: Record<string, unknown> }>(
    `select a.id, a.body
       from ${schema}.events a
      where a.uuid = $1 and a.type = 'pgevents.subject_forgotten'
        and ($2::uuid is null or exists (
              select 1
                from ${schema}.events e
                join ${schema}.personal_data_declarations d on d.type = e.type
               cross join lateral unnest(d.revealed_fields) f
               where e.uuid = $2::uuid
                 and (e.body #> string_to_array(f, '.')) ->> 'key' in (select jsonb_array_elements_text(a.body -> 'keys'))))
      order by a.id desc
      limit $3`,
    [AUDIT_STREAM, options.stream ?? null, limit],
  );
  const strings = (value: unknown) => (Array.isArray(value) ? value.map(String) : []);
  return rows.map(({ id, body }) => ({
    position: Number(id),
    keys: (Array.isArray(body.keys) ? body.keys : []).map(Number),
    reason: String(body.reason ?? ''),
    forgottenBy: String(body.forgotten_by ?? ''),
    forgottenAt: new Date(String(body.forgotten_at)),
    replayed: strings(body.replayed),
    reset: strings(body.reset),
    rebuildsCancelled: strings(body.rebuilds_cancelled),
  }));
}
