-- A reader: may read the events (read_stream, read_all, the tables), the stores' bookkeeping and the
-- tables of every projection (grant_projection_reads, also for projections defined later). It is
-- recorded in roles, so that every later change of the definitions grants it again.
create or replace function {{schema}}.grant_reader(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection text;
begin
  if to_regrole(quote_ident(p_role)) is null then
    raise exception 'Unknown role: %', p_role
      using errcode = 'PE006', detail = json_build_object('role', p_role)::text,
            hint = 'Create it first: create role <name> login;';
  end if;
  execute format('grant usage on schema {{schema}} to %I', p_role);
  execute format('grant select on {{schema}}.events, {{schema}}.streams, {{schema}}.projections, '
                 '{{schema}}.projection_handlers, {{schema}}.event_types, {{schema}}.migrations to %I', p_role);
  execute format('grant execute on function {{schema}}.read_stream(uuid, bigint, int), '
                 '{{schema}}.read_all(xid8, bigint, int, text[]) to %I', p_role);
  insert into roles (role_name, access) values (p_role, 'reader')
  on conflict (role_name) do nothing;
  for v_projection in select name from projections loop
    perform grant_projection_reads(v_projection);
  end loop;
end;
$$;
