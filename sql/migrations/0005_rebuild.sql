-- pgevents 0005: projection versions, materialized-view staleness and online rebuilds (see
-- sql/rebuild/ for how a rebuild works).

alter table {{schema}}.projections
  add column built_version int,
  add column rebuild_sql text,
  add column rebuild_search_path text,
  add column last_rebuilt_at timestamptz,
  add column refreshed_snapshot pg_snapshot;

comment on column {{schema}}.projections.built_version is 'Version of the projection code its tables were last built with (by a full replay or a rebuild); null: never built from the stored events.';

comment on column {{schema}}.projections.rebuild_sql is 'The optional set-based rebuild statement (the fast path of a rebuild).';

-- Projections defined before this migration are taken to be built with their current code.
update {{schema}}.projections set built_version = version where kind = 'trigger';

-- One row per projection that is being, or was last, rebuilt. A new rebuild replaces the row.
create table {{schema}}.rebuilds (
  projection text primary key references {{schema}}.projections (name) on delete cascade,
  phase text not null,
  path text not null,
  shadow_schema name not null,
  fingerprint text not null,
  version int not null,
  round int not null default 0,
  -- The events of the current round are those visible in snapshot and not in prev_snapshot (all
  -- visible in snapshot for round 0), applied in position order; after_position is the last one applied.
  prev_snapshot pg_snapshot,
  snapshot pg_snapshot not null,
  after_position bigint not null default 0,
  applied bigint not null default 0,
  total bigint not null default 0,
  busy_seconds float8 not null default 0,
  error jsonb,
  started_at timestamptz not null default statement_timestamp(),
  updated_at timestamptz not null default statement_timestamp(),
  finished_at timestamptz,
  constraint rebuilds_phase_valid check (phase in ('building', 'catching_up', 'swapping', 'done', 'failed')),
  constraint rebuilds_path_valid check (path in ('handlers', 'statement'))
);

comment on table {{schema}}.rebuilds is 'Online projection rebuilds: phase, snapshots applied, progress. Read rebuild_progress for rate and ETA.';
