-- Gap-safe read after a cursor, for SQL consumers: the next at most p_limit safe events (of
-- p_types, when given) after p_cursor. Pass the cursor of the last row to read on.
-- Example: select cursor, type, body from pgevents.read_all_after('start', 100);
create or replace function {{schema}}.read_all_after(
  p_cursor text default 'start',
  p_limit int default 1000,
  p_types text[] default null
) returns setof {{schema}}.safe_events
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_after record;
begin
  if p_cursor = 'end' then
    raise exception 'Invalid cursor: ''end'' names no place to read after'
      using errcode = 'PE009', detail = json_build_object('cursor', p_cursor, 'reason', 'malformed')::text,
            hint = 'Read from ''start'' or from a cursor; subscriptions accept ''end''.';
  end if;
  if p_limit is null or p_limit < 1 then
    raise exception 'Invalid limit: % (it must be at least 1)', coalesce(p_limit::text, 'null')
      using errcode = 'PE003', detail = json_build_object('field', 'limit')::text;
  end if;
  select r.transaction_id, r."position" into v_after from resolve_cursor(coalesce(p_cursor, 'start')) r;
  return query
    select s.* from safe_events s
     where (s.transaction_id, s.id) > (v_after.transaction_id, v_after."position")
       and (p_types is null or s.type = any(p_types))
     order by s.transaction_id, s.id
     limit p_limit;
end;
$$;
