-- pgevents 0012: snapshots kept by the database.
-- A snapshot is a trigger projection of its own kind: one row per stream (the state an SQL evolve
-- function folded, as jsonb, and the version of the stream it reflects), kept in the appending
-- transaction. Its tables live in a schema of their own, next to the store's.
create schema if not exists {{schema}}_snapshots;

create table {{schema}}.snapshots (
  name text primary key references {{schema}}.projections (name) on delete cascade,
  evolve text not null,
  types text[] not null,
  initial jsonb not null default '{}',
  every int,
  on_types text[],
  defined_at timestamptz not null default statement_timestamp(),
  constraint snapshots_every_positive check (every is null or every > 0),
  constraint snapshots_when check (every is not null or on_types is not null)
);

comment on table {{schema}}.snapshots is 'Snapshots (define_snapshot): per stream, the state evolve folds from initial over the events of types, written every `every` events and on events of on_types; table {{schema}}_snapshots.<name>.';
