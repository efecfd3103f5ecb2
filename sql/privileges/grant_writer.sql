-- A writer: a reader that may also append (append_events, a plain INSERT of the columns below, imports).
create or replace function {{schema}}.grant_writer(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  perform grant_reader(p_role);
  -- Not id, inserted_at or transaction_id: a writer's events get their position, time and
  -- transaction from the store.
  execute format('grant insert (uuid, version, type, body, metadata, event_id) on {{schema}}.events to %I', p_role);
  execute format('grant execute on function {{schema}}.append_events(uuid, jsonb, text), '
                 '{{schema}}.import_events(regclass), {{schema}}.lock_streams(uuid[]), {{schema}}.uuid_v7() to %I', p_role);
  update roles set access = 'writer' where role_name = p_role;
end;
$$;
