-- pgevents 0011: versions of event types, upcasters and validations.
-- Every event records the version of its type's shape (type_version; null in rows written before
-- the store declared any version: version 1). An upcaster turns a body of one version into the next
-- (or into another type); reads, replays and rebuilds hand out the current shape, stored rows never
-- change. A declared type may name required body fields and a check function, and whether an
-- append of an older version is upcast before it is stored or refused.
alter table {{schema}}.events add column type_version int;

alter table {{schema}}.event_type_declarations
  add column required_fields text[],
  add column check_function text,
  add column old_versions text not null default 'upcast',
  add constraint event_type_declarations_old_versions_valid check (old_versions in ('upcast', 'refuse'));

create table {{schema}}.event_upcasters (
  type text not null references {{schema}}.event_type_declarations (type) on delete cascade,
  from_version int not null,
  function text not null,
  to_type text not null,
  to_version int not null,
  -- Where the chain from (type, from_version) ends: the shape reads hand out.
  final_type text not null,
  final_version int not null,
  defined_at timestamptz not null default statement_timestamp(),
  primary key (type, from_version),
  constraint event_upcasters_from_version_positive check (from_version > 0)
);

comment on table {{schema}}.event_upcasters is 'Upcasters (define_upcaster): the function that turns a body of (type, from_version) into (to_type, to_version), and where its chain ends.';

-- New signatures follow in the definitions.
drop function if exists {{schema}}.define_event_type(text, int, text);
drop function if exists {{schema}}.read_page(xid8, bigint, int, text[]);
