-- pgevents 0013: the stream lifecycle (archive, tombstone, truncate-before).
-- A stream's state rides on its streams row, which every append already reads and locks: 'live'
-- (the default), 'archived' (appends refused until unarchive_stream) or 'tombstoned' (appends
-- refused for ever; the row, and so the id, stays). Every change of state and every
-- truncate-before is recorded in stream_lifecycle (who, when, why), which is also what lets
-- truncate_stream_before, and only it, delete events (see tg_events__reject_change.sql).
alter table {{schema}}.streams
  add column state text not null default 'live',
  add column truncated_before bigint,
  add constraint streams_state_valid check (state in ('live', 'archived', 'tombstoned'));

comment on column {{schema}}.streams.state is 'live, archived (appends refused until unarchive_stream) or tombstoned (appends refused for ever).';
comment on column {{schema}}.streams.truncated_before is 'The versions below it were deleted by truncate_stream_before: an insert of one of them is refused (versions are never reused).';

create table {{schema}}.stream_lifecycle (
  id bigint generated always as identity primary key,
  stream uuid not null,
  operation text not null,
  reason text not null,
  -- truncate_before: events below this version were deleted; deleted_events of them.
  before_version bigint,
  deleted_events bigint,
  -- The stream's version when it was done.
  stream_version bigint not null,
  -- The login role that did it (session_user).
  done_by name not null,
  done_at timestamptz not null default statement_timestamp(),
  transaction_id xid8 not null default pg_current_xact_id(),
  constraint stream_lifecycle_operation_valid
    check (operation in ('archive', 'unarchive', 'tombstone', 'truncate_before')),
  constraint stream_lifecycle_reason_given check (btrim(reason) <> ''),
  constraint stream_lifecycle_truncation
    check ((operation = 'truncate_before') = (before_version is not null and deleted_events is not null))
);

create index stream_lifecycle_stream_idx on {{schema}}.stream_lifecycle (stream, id);

comment on table {{schema}}.stream_lifecycle is 'The audit of the stream lifecycle: every archive, unarchive, tombstone and truncate-before, by whom, when and why.';

-- read_stream takes p_include_archived (sql/event-log/read_stream.sql defines it again).
drop function if exists {{schema}}.read_stream(uuid, bigint, int);
