-- pgevents 0001: the event log.
-- {{schema}} is replaced by the configured schema name (a plain lowercase identifier).
-- Error SQLSTATEs raised by pgevents use the class PE (see docs/errors.md).
-- Numbered migrations hold what cannot be re-run (tables, columns, indexes, data moves, drops);
-- the functions, views and triggers live in sql/<concept>/ (listed in sql/definitions.txt).

create schema if not exists {{schema}};

-- One row per stream: the stream's current version. Appends lock this row, which serialises
-- writers of the same stream and keeps versions gapless; writers of different streams never wait
-- for each other.
create table {{schema}}.streams (
  stream uuid primary key,
  version bigint not null check (version >= 0)
);

create table {{schema}}.events (
  id bigint generated always as identity primary key,
  uuid uuid not null,
  version bigint not null,
  type text not null,
  body jsonb not null,
  metadata jsonb not null default '{}',
  event_id uuid not null default gen_random_uuid(),
  inserted_at timestamptz not null default statement_timestamp(),
  transaction_id xid8 not null default pg_current_xact_id(),
  constraint events_stream_version_unique unique (uuid, version),
  constraint events_event_id_unique unique (event_id),
  constraint events_version_positive check (version >= 1),
  -- Not `{0,199}`: bounded repetition makes PostgreSQL's regex engine ~25 times slower here.
  constraint events_type_valid check (type ~ '^[A-Za-z_][A-Za-z0-9_.:/-]*$' and char_length(type) <= 200),
  constraint events_body_is_object check (jsonb_typeof(body) = 'object'),
  constraint events_body_size check (pg_column_size(body) <= 1048576),
  constraint events_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  constraint events_metadata_size check (pg_column_size(metadata) <= 65536)
);

comment on table {{schema}}.events is 'The append-only event log. id is the store-wide position, (uuid, version) the place of the event in its stream.';

create index events_type_idx on {{schema}}.events (type, id);

create index events_transaction_order_idx on {{schema}}.events (transaction_id, id);
