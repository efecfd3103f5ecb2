-- Whether a JSON value has the shape of an event to append: an object with a string "type", an
-- object "body", an optional object "metadata", an optional "id" that spells a uuid and an optional
-- "type_version", a positive integer (the limits
-- of its size are json_limits.sql's). append_events checks one small event with it in a plpgsql
-- expression and a batch in its query; both inline it. For that it pins no search_path and names
-- every function and operator with its schema instead (as uuid_v7 does).
create or replace function {{schema}}.event_is_well_formed(p_event jsonb) returns boolean
language sql
immutable
parallel safe
as $$
  select pg_catalog.jsonb_typeof(p_event) operator(pg_catalog.=) 'object'
     and pg_catalog.jsonb_typeof(p_event operator(pg_catalog.->) 'type') operator(pg_catalog.=) 'string'
     and pg_catalog.jsonb_typeof(p_event operator(pg_catalog.->) 'body') operator(pg_catalog.=) 'object'
     and (not p_event operator(pg_catalog.?) 'metadata'
          or pg_catalog.jsonb_typeof(p_event operator(pg_catalog.->) 'metadata') operator(pg_catalog.=) 'object')
     and (not p_event operator(pg_catalog.?) 'id'
          or (pg_catalog.jsonb_typeof(p_event operator(pg_catalog.->) 'id') operator(pg_catalog.=) 'string'
              and (p_event operator(pg_catalog.->>) 'id')
                  operator(pg_catalog.~*) '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'))
     and (not p_event operator(pg_catalog.?) 'type_version'
          or (pg_catalog.jsonb_typeof(p_event operator(pg_catalog.->) 'type_version') operator(pg_catalog.=) 'number'
              and (p_event operator(pg_catalog.->>) 'type_version') operator(pg_catalog.~) '^[1-9][0-9]{0,8}$'))
$$;
