-- Replay a projection in one call: re-apply the stored events through its handlers, atomically.
-- See replay_start for what each filter clears. Returns the number of events applied.
create or replace function {{schema}}.replay_projection(
  p_name text,
  p_stream uuid default null,
  p_types text[] default null,
  p_from_position bigint default null
) returns bigint
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_step record;
  v_after bigint := coalesce(p_from_position, 1) - 1;
  v_applied bigint := 0;
begin
  perform replay_start(p_name, p_stream, p_types, p_from_position);
  loop
    select * into v_step from replay_step(p_name, v_after, 10000, p_stream, p_types);
    exit when v_step.applied = 0;
    v_applied := v_applied + v_step.applied;
    v_after := v_step.last_position;
  end loop;
  return v_applied;
end;
$$;
