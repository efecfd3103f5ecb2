-- pgevents 0014: personal data (crypto-shredding).
-- personal_data_declarations says which fields of which event types are personal and whose they
-- are (the subject: a body field, the stream, or a metadata field). Before such an event is
-- stored, each of those fields is encrypted with its subject's key (subject_keys, made on first
-- use); the events table holds only the ciphertext. forget_subject deletes the key: the fields can
-- never be read again. See docs/personal-data.md.
create table {{schema}}.personal_data_declarations (
  type text primary key,
  -- The personal fields of the body: each a path of keys from the body, dot-separated ('email',
  -- 'address.street').
  fields text[] not null,
  -- Every field any declaration of the type ever named: what reads decrypt, so that events stored
  -- under an earlier declaration still read in clear after the type is declared again.
  revealed_fields text[] not null,
  -- Whose they are: 'body' (the body field subject_path), 'metadata' (the metadata field
  -- subject_path) or 'stream' (the event's stream id).
  subject_source text not null,
  subject_path text,
  declared_at timestamptz not null default statement_timestamp(),
  constraint personal_data_declarations_fields check (cardinality(fields) > 0),
  constraint personal_data_declarations_source check (subject_source in ('body', 'metadata', 'stream')),
  constraint personal_data_declarations_path check ((subject_source = 'stream') = (subject_path is null))
);

comment on table {{schema}}.personal_data_declarations is 'Which fields of which event types are personal data and whose they are (declare_personal_data); they are stored encrypted with the subject''s key.';

-- The keys: readable by the store's owner and the roles granted personal_data_reader only (every
-- other role is refused by the table's privileges, and reads show those roles the encrypted fields
-- as they are stored).
create table {{schema}}.subject_keys (
  id bigint generated always as identity primary key,
  subject text not null,
  key bytea not null,
  created_at timestamptz not null default statement_timestamp(),
  -- Set by rotate_subject_key: the key still decrypts what it encrypted, and encrypts nothing more.
  retired_at timestamptz
);

-- One current key per subject.
create unique index subject_keys_current on {{schema}}.subject_keys (subject) where retired_at is null;
create index subject_keys_subject on {{schema}}.subject_keys (subject);

revoke all on {{schema}}.subject_keys from public;

comment on table {{schema}}.subject_keys is 'The key of each data subject whose personal data events hold (encrypted); forget_subject deletes every key of a subject, rotate_subject_key retires its current one. Only the store''s owner and personal data readers read it.';

-- A kind of role that reads personal data decrypted (grant_personal_data_reader): it may read the keys.
alter table {{schema}}.roles drop constraint roles_access_valid;
alter table {{schema}}.roles add constraint roles_access_valid
  check (access in ('reader', 'writer', 'subscriber', 'operator', 'personal_data_reader'));
