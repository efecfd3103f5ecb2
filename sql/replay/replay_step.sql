-- Apply the next at most p_limit events of a replay begun with replay_start, after position p_after.
create or replace function {{schema}}.replay_step(
  p_name text,
  p_after bigint,
  p_limit int,
  p_stream uuid default null,
  p_types text[] default null,
  out applied bigint,
  out last_position bigint
)
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  if not exists (select 1 from projections where name = p_name and kind = 'trigger') then
    perform raise_unknown_projection(p_name);
  end if;
  execute format('select applied, last_position from {{schema}}.%I($1, $2, $3, $4)', 'projection_apply__' || p_name)
    into applied, last_position
    using p_after, p_limit, p_stream, p_types;
end;
$$;
