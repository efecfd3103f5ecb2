-- Skips the event a failed subscription stopped at: the checkpoint moves past it and delivery
-- goes on with the next event. Returns the subscription.
-- Operators' (grant_operator) and the store's owner's; it runs with the caller's rights.
create or replace function {{schema}}.skip_subscription_event(p_name text) returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_subscription subscriptions;
begin
  select * into v_subscription from subscriptions where name = p_name for update;
  if not found then
    perform raise_unknown_subscription(p_name);
  end if;
  if v_subscription.state <> 'failed' then
    raise exception 'Subscription % has not failed: there is no event to skip', p_name
      using errcode = 'PE012', detail = json_build_object('subscription', p_name, 'state', v_subscription.state)::text,
            hint = 'To move its checkpoint anyway, reset it to a cursor: pgevents subscriptions reset <name> --to <cursor>.';
  end if;
  update subscriptions
     set transaction_id = v_subscription.error_transaction_id, "position" = v_subscription.error_position,
         attempts = 0, last_error = null, error_transaction_id = null, error_position = null,
         state = subscription_run_state(p_name),
         checkpoint_at = statement_timestamp(), updated_at = statement_timestamp()
   where name = p_name
  returning * into v_subscription;
  perform pg_notify('pgevents_{{schema}}', 'subscription ' || p_name);
  return v_subscription;
end;
$$;
