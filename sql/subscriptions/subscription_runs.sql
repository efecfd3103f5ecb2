-- What a runner calls. They run with the caller's rights: a subscriber changes only the
-- subscriptions it may manage (row-level security on subscriptions), and only as a runner does
-- (tg_subscriptions__check_change).

-- A runner took the subscription's lock: it is running, unless it has failed. A failed subscription
-- stays failed (a restart does not retry a poison event again) until it is resumed, skipped or reset.
create or replace function {{schema}}.start_subscription_run(p_name text, p_runner text) returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_subscription subscriptions;
begin
  update subscriptions
     set state = case when state = 'failed' then 'failed' else 'running' end,
         attempts = case when state = 'failed' then attempts else 0 end,
         runner = p_runner, updated_at = statement_timestamp()
   where name = p_name
  returning * into v_subscription;
  if not found then
    -- Row-level security hides another role's subscription from the update, not from reading.
    select * into v_subscription from subscriptions where name = p_name;
    if found then
      perform check_subscription_manager(p_name, v_subscription.owner);
    end if;
    perform raise_unknown_subscription(p_name);
  end if;
  return v_subscription;
end;
$$;

-- The runner stopped: a failed subscription stays failed.
create or replace function {{schema}}.stop_subscription_run(p_name text) returns void
language sql
set search_path = {{schema}}, pg_temp
as $$
  update subscriptions
     set state = case when state = 'failed' then 'failed' else 'stopped' end,
         runner = null, updated_at = statement_timestamp()
   where name = p_name;
$$;

-- Moves the checkpoint from (p_from_…) to (p_to_…) and clears any failure. Returns false, changing
-- nothing, when the checkpoint is no longer at p_from (it was reset or skipped meanwhile).
create or replace function {{schema}}.save_subscription_checkpoint(
  p_name text,
  p_from_transaction_id xid8,
  p_from_position bigint,
  p_to_transaction_id xid8,
  p_to_position bigint
) returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  update subscriptions
     set transaction_id = p_to_transaction_id, "position" = p_to_position,
         attempts = 0, last_error = null, error_transaction_id = null, error_position = null,
         checkpoint_at = statement_timestamp(), updated_at = statement_timestamp()
   where name = p_name and transaction_id = p_from_transaction_id and "position" = p_from_position
     and state <> 'failed';
  return found;
end;
$$;

-- Records a failed delivery of the event (p_event_…) right after the checkpoint (p_at_…). After
-- p_max_attempts failures in a row the subscription is failed. Returns the attempts and the state.
create or replace function {{schema}}.record_subscription_failure(
  p_name text,
  p_at_transaction_id xid8,
  p_at_position bigint,
  p_event_transaction_id xid8,
  p_event_position bigint,
  p_error text,
  p_max_attempts int,
  out attempts int,
  out state text
)
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_subscription subscriptions;
  v_attempts int;
begin
  select * into v_subscription from subscriptions s
   where s.name = p_name and s.transaction_id = p_at_transaction_id and s."position" = p_at_position
   for update;
  if not found then
    attempts := 0;
    state := null;
    return;
  end if;
  v_attempts := case when v_subscription.error_position is not distinct from p_event_position
                     then v_subscription.attempts + 1 else 1 end;
  update subscriptions s
     set attempts = v_attempts,
         last_error = left(p_error, 2000),
         error_transaction_id = p_event_transaction_id,
         error_position = p_event_position,
         state = case when v_attempts >= p_max_attempts then 'failed' else s.state end,
         updated_at = statement_timestamp()
   where s.name = p_name
  returning s.attempts, s.state into attempts, state;
end;
$$;

-- The state after an operator's change: running when a runner holds the lock, else stopped.
create or replace function {{schema}}.subscription_run_state(p_name text) returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select case when subscription_is_locked(p_name) then 'running' else 'stopped' end;
$$;
