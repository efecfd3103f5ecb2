-- Events of one stream in version order, in their current shape (current_events). plpgsql, so that
-- a session plans the query once rather than on every call.
create or replace function {{schema}}.read_stream(
  p_stream uuid,
  p_from_version bigint default 1,
  p_limit int default 1000
) returns setof {{schema}}.events
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
begin
  return query
    select e.id, e.uuid, e.version, e.type, e.body, e.metadata, e.event_id, e.inserted_at, e.transaction_id, e.type_version
      from current_events e
     where e.uuid = p_stream and e.version >= p_from_version
     order by e.version
     limit p_limit;
end;
$$;
