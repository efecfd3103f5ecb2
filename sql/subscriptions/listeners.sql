-- Registers a listening session, and forgets listeners whose session has ended (a crashed process).
create or replace function {{schema}}.register_listener(p_id uuid) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  delete from listeners l where not exists (select 1 from pg_stat_activity a where a.pid = l.pid);
  insert into listeners (id, pid) values (p_id, pg_backend_pid())
  on conflict (id) do update set pid = excluded.pid, listening_since = excluded.listening_since;
end;
$$;

create or replace function {{schema}}.unregister_listener(p_id uuid) returns void
language sql
set search_path = {{schema}}, pg_temp
as $$
  delete from listeners where id = p_id;
$$;
