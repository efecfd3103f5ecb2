-- A subscriber: reads (grant_read_access) and runs subscriptions, async projections and followers
-- (tail) under its own name: creates subscriptions as their owner, moves their checkpoints forward,
-- records their run state and failures, and registers its listening sessions. Row-level security
-- keeps it to the subscriptions it may manage (may_manage_subscription), and
-- tg_subscriptions__check_change keeps it from resetting, skipping or resuming them (operators'
-- work). Appending is a writer's: an application that appends too is granted both. Recorded in roles.
create or replace function {{schema}}.grant_subscriber(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  perform grant_read_access(p_role);
  -- Not owner (its default, current_user, names the creating role), name or kind after creation,
  -- reset_at or the timestamps of creation.
  execute format('grant insert (name, kind, transaction_id, "position", types, tables, checkpoint_at) '
                 'on {{schema}}.subscriptions to %I', p_role);
  execute format('grant update (transaction_id, "position", state, types, tables, attempts, last_error, '
                 'error_transaction_id, error_position, runner, updated_at, checkpoint_at) '
                 'on {{schema}}.subscriptions to %I', p_role);
  execute format('grant execute on function {{schema}}.create_subscription(text, text, text[]), '
                 '{{schema}}.define_async_projection(text, text[], text[]), '
                 '{{schema}}.start_subscription_run(text, text), {{schema}}.stop_subscription_run(text), '
                 '{{schema}}.save_subscription_checkpoint(text, xid8, bigint, xid8, bigint), '
                 '{{schema}}.record_subscription_failure(text, xid8, bigint, xid8, bigint, text, int), '
                 '{{schema}}.check_subscription_name(text), {{schema}}.check_subscription_manager(text, name), '
                 '{{schema}}.raise_unknown_subscription(text), '
                 '{{schema}}.register_listener(uuid), {{schema}}.unregister_listener(uuid), '
                 '{{schema}}.set_listener_awake(uuid, boolean), {{schema}}.events_writers_active() to %I', p_role);
  insert into roles (role_name, access) values (p_role, 'subscriber')
  on conflict (role_name, access) do nothing;
end;
$$;
