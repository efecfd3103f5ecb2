-- pgevents 0010: declared event types.
-- A store may declare the event types it expects, with their current version and a description.
-- A strict store (set_strict_event_types) refuses an append of a type it has not declared, naming
-- the closest declared one: the seed's own mix-up (user_update and update_user) is the mistake it
-- catches. Stores that declare nothing keep accepting every valid type.
create table {{schema}}.event_type_declarations (
  type text primary key,
  version int not null default 1,
  description text,
  declared_at timestamptz not null default statement_timestamp(),
  constraint event_type_declarations_type_valid check (type ~ '^[A-Za-z_][A-Za-z0-9_.:/-]*$' and char_length(type) <= 200),
  constraint event_type_declarations_version_positive check (version > 0)
);

comment on table {{schema}}.event_type_declarations is 'Event types the store declares (define_event_type), with their current version; a strict store refuses undeclared types.';
