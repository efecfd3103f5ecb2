import type { Queryable } from '../db/executor.js';
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

/** What {@link forgetSubject} did: the audit event's body, and the projections replayed. */
export interface ForgetResult {
  /** The ids of the deleted keys (what the encrypted fields of the subject's events name): the current one and any retired. */
  keys: number[];
  reason: string;
  forgottenBy: string;
  forgottenAt: Date;
  /** The trigger projections replayed, so that their read models hold the erased values. */
  replayed: string[];
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
export async function forgetSubject(db: Queryable, schema: string, subject: string, options: ForgetOptions): Promise<ForgetResult> {
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
  const [row] = await db.query<{ result: { keys: number[]; reason: string; forgotten_by: string; forgotten_at: string; replayed: string[] } }>(
    `select ${schema}.forget_subject($1, $2) as result`,
    [subject, reason],
  );
  const result = row!.result;
  return {
    keys: result.keys.map(Number),
    reason: result.reason,
    forgottenBy: result.forgotten_by,
    forgottenAt: new Date(result.forgotten_at),
    replayed: result.replayed,
  };
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
