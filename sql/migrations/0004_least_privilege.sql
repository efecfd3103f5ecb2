-- pgevents 0004: least privilege.
-- Roles: the owner (the role that runs the migrations: installs the schema, defines, replays and
-- rebuilds projections), writers (append through append_events or a plain INSERT, and read) and
-- readers (read events and read models). Writers and readers get only what grant_writer and
-- grant_reader give them; every function is closed to PUBLIC.

revoke all on all tables in schema {{schema}} from public;
revoke all on all sequences in schema {{schema}} from public;
revoke all on all functions in schema {{schema}} from public;
-- Functions the installing role creates later (later migrations, generated projection code) must be
-- closed too. A per-schema ALTER DEFAULT PRIVILEGES can only add to the global defaults, never take
-- PUBLIC's EXECUTE away, so this has to be the installing role's database-wide default: functions it
-- creates in any schema of this database are no longer executable by PUBLIC unless granted.
alter default privileges revoke execute on functions from public;

create function {{schema}}.grant_reader(p_role name) returns void
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

create function {{schema}}.grant_writer(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  perform grant_reader(p_role);
  -- Not id, inserted_at or transaction_id: a writer's events get their position, time and
  -- transaction from the store. (An explicit position, allowed to the owner within the rules of
  -- tg_events__check_insert, could place an event before others in replay order.)
  execute format('grant insert (uuid, version, type, body, metadata, event_id) on {{schema}}.events to %I', p_role);
  execute format('grant execute on function {{schema}}.append_events(uuid, jsonb, text) to %I', p_role);
  update roles set access = 'writer' where role_name = p_role;
end;
$$;

revoke all on function {{schema}}.grant_reader(name) from public;
revoke all on function {{schema}}.grant_writer(name) from public;
