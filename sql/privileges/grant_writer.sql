-- A writer: reads (grant_read_access) and appends (append_events, a plain INSERT of the columns
-- below, imports). Recorded in roles.
create or replace function {{schema}}.grant_writer(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  perform grant_read_access(p_role);
  -- Not id, inserted_at or transaction_id: a writer's events get their position, time and
  -- transaction from the store.
  execute format('grant insert (uuid, version, type, body, metadata, event_id, type_version) on {{schema}}.events to %I', p_role);
  execute format('grant execute on function {{schema}}.append_events(uuid, jsonb, text), '
                 '{{schema}}.import_events(regclass), {{schema}}.lock_streams(uuid[]), {{schema}}.uuid_v7() to %I', p_role);
  insert into roles (role_name, access) values (p_role, 'writer')
  on conflict (role_name, access) do nothing;
end;
$$;
