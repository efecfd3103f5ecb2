-- Appends of events a projection handles take this lock shared; a replay of the projection takes
-- it exclusively, so that no append is applied both by its trigger and by the replay, or by neither.
create or replace function {{schema}}.projection_lock_key(p_name text) returns int
language sql
immutable
set search_path = {{schema}}, pg_temp
as $$
  select hashtext('{{schema}}.' || p_name);
$$;
