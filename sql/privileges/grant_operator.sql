-- An operator: reads (grant_read_access), archives and unarchives streams, and resets, skips and
-- resumes any subscription or async projection (row-level security lets it change every row of subscriptions). Resetting an async
-- projection empties its tables with the operator's own rights: it needs TRUNCATE on them from
-- their owner. Defining, replaying, rebuilding and verifying projections stay with the store's owner
-- (see docs/security.md). Recorded in roles.
create or replace function {{schema}}.grant_operator(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  perform grant_read_access(p_role);
  execute format('grant update (transaction_id, "position", state, attempts, last_error, error_transaction_id, '
                 'error_position, updated_at, checkpoint_at, reset_at) on {{schema}}.subscriptions to %I', p_role);
  execute format('grant execute on function {{schema}}.reset_subscription(text, text), '
                 '{{schema}}.skip_subscription_event(text), {{schema}}.resume_subscription(text), '
                 '{{schema}}.subscription_run_state(text), {{schema}}.raise_unknown_subscription(text), '
                 '{{schema}}.archive_stream(uuid, text), {{schema}}.unarchive_stream(uuid, text) to %I', p_role);
  insert into roles (role_name, access) values (p_role, 'operator')
  on conflict (role_name, access) do nothing;
end;
$$;
