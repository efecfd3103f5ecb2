-- Registers a listening session, and forgets listeners whose session has ended (a crashed process).
-- Security definer: a subscriber registers and unregisters its own session without any privilege
-- on the listeners table.
create or replace function {{schema}}.register_listener(p_id uuid) returns void
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
begin
  delete from listeners l where not exists (select 1 from pg_stat_activity a where a.pid = l.pid);
  insert into listeners (id, pid) values (p_id, pg_backend_pid())
  on conflict (id) do update set pid = excluded.pid, listening_since = excluded.listening_since;
end;
$$;

-- Unregisters a listener of this session (another session's listener stays: a role cannot silence
-- the wake-ups of others).
create or replace function {{schema}}.unregister_listener(p_id uuid) returns void
language sql
security definer
set search_path = {{schema}}, pg_temp
as $$
  delete from listeners where id = p_id and pid = pg_backend_pid();
$$;
