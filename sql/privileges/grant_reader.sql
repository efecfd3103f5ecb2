-- What every kind of role may read (readers, writers, subscribers and operators all get it): the
-- events (read_stream, read_all, read_all_after, read_page, the safe_events view, safe_horizon and the
-- tables), the store's bookkeeping, the status of subscriptions, projections and rebuilds, and the
-- tables of every projection (also of projections defined later: grant_projection_reads). Records
-- nothing.
create or replace function {{schema}}.grant_read_access(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_table text;
begin
  if to_regrole(quote_ident(p_role)) is null then
    raise exception 'Unknown role: %', p_role
      using errcode = 'PE006', detail = json_build_object('role', p_role)::text,
            hint = 'Create it first: create role <name> login;';
  end if;
  if exists (select 1 from tenant_roles t where t.role_name = p_role) then
    raise exception 'Role % is a tenant role: other kinds of access would read every tenant''s events', p_role
      using errcode = 'PE041', detail = json_build_object('role', p_role)::text,
            hint = 'Grant the other kind to another role.';
  end if;
  execute format('grant usage on schema {{schema}}, {{schema}}_snapshots to %I', p_role);
  execute format('grant select on {{schema}}.events, {{schema}}.streams, {{schema}}.projections, '
                 '{{schema}}.projection_handlers, {{schema}}.snapshots, {{schema}}.event_types, {{schema}}.migrations, '
                 '{{schema}}.safe_events, {{schema}}.current_events, {{schema}}.event_upcasters, {{schema}}.subscriptions, {{schema}}.subscription_status, '
                 '{{schema}}.rebuild_progress, {{schema}}.projection_health, {{schema}}.stream_lifecycle, {{schema}}.event_type_declarations, {{schema}}.personal_data_declarations to %I', p_role);
  -- The functions behind the views above run with the reading role's rights.
  execute format('grant execute on function {{schema}}.read_stream(uuid, bigint, int, boolean), {{schema}}.stream_state(uuid), '
                 '{{schema}}.read_all(xid8, bigint, int, text[]), {{schema}}.read_all_after(text, int, text[]), '
                 '{{schema}}.read_page(xid8, bigint, int, text[]), '
                 '{{schema}}.safe_horizon(), {{schema}}.strict_event_types(), '
                 '{{schema}}.upcast_body(text, int, jsonb), {{schema}}.reveal_personal_data(text, jsonb), {{schema}}.upcast_sources(text[]), {{schema}}.types_read_as_stored(text[]), {{schema}}.parse_cursor(text), {{schema}}.resolve_cursor(text), '
                 '{{schema}}.subscription_lock_key(text), {{schema}}.subscription_is_locked(text), '
                 '{{schema}}.projection_rows(text), {{schema}}.rebuild_progress_of(text), '
                 '{{schema}}.has_store_access(name, text), {{schema}}.may_manage_subscription(name, name), {{schema}}.tenants_of(name) to %I', p_role);
  for v_table in select distinct t from projections p cross join unnest(p.tables) t loop
    if to_regclass(v_table) is not null then
      execute format('grant select on %s to %I', to_regclass(v_table), p_role);
    end if;
  end loop;
end;
$$;

-- A reader: reads (grant_read_access) and changes nothing. It is recorded in roles, so that every
-- later change of the definitions grants it again.
create or replace function {{schema}}.grant_reader(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  perform grant_read_access(p_role);
  insert into roles (role_name, access) values (p_role, 'reader')
  on conflict (role_name, access) do nothing;
end;
$$;
