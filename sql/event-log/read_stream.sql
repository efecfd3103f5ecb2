-- Events of one stream in version order.
create or replace function {{schema}}.read_stream(
  p_stream uuid,
  p_from_version bigint default 1,
  p_limit int default 1000
) returns setof {{schema}}.events
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select * from events
   where uuid = p_stream and version >= p_from_version
   order by version
   limit p_limit;
$$;
