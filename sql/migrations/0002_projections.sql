-- pgevents 0002: the projection registry (trigger and materialized-view projections) and the
-- roles readers and writers are recorded in.

create table {{schema}}.projections (
  name text primary key,
  kind text not null,
  version int not null default 1,
  tables text[] not null default '{}',
  stream_column text,
  view_query text,
  defined_at timestamptz not null default statement_timestamp(),
  last_replayed_at timestamptz,
  last_refreshed_at timestamptz,
  refreshed_position bigint,
  constraint projections_name_valid check (name ~ '^[a-z][a-z0-9_]{0,39}$'),
  constraint projections_kind_valid check (kind in ('trigger', 'materialized_view')),
  constraint projections_version_positive check (version >= 1)
);

create table {{schema}}.projection_handlers (
  projection text not null references {{schema}}.projections (name) on delete cascade,
  event_type text not null,
  handler text not null,
  takes_event boolean not null,
  primary key (projection, event_type)
);

-- Known roles, so that read models defined later are granted to them too.
create table {{schema}}.roles (
  role_name name primary key,
  access text not null,
  granted_at timestamptz not null default statement_timestamp(),
  constraint roles_access_valid check (access in ('reader', 'writer'))
);
