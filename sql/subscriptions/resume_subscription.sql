-- Retries the event a failed subscription stopped at, with a fresh count of attempts.
-- Operators' (grant_operator) and the store's owner's; it runs with the caller's rights.
create or replace function {{schema}}.resume_subscription(p_name text) returns {{schema}}.subscriptions
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
    raise exception 'Subscription % has not failed: there is nothing to resume', p_name
      using errcode = 'PE012', detail = json_build_object('subscription', p_name, 'state', v_subscription.state)::text,
            hint = 'A stopped subscription resumes when its process subscribes again.';
  end if;
  update subscriptions
     set attempts = 0, state = subscription_run_state(p_name), updated_at = statement_timestamp()
   where name = p_name
  returning * into v_subscription;
  perform pg_notify('pgevents_{{schema}}', 'subscription ' || p_name);
  return v_subscription;
end;
$$;
