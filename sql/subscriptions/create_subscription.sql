-- Creates the subscription at p_from ('start', 'end' or a cursor) unless it exists; an existing
-- subscription keeps its checkpoint (p_from is still checked). p_types: the event types it
-- receives, null for all. Returns the subscription. It runs with the caller's rights: a subscriber
-- creates the subscription as its owner, and may not take over one another role created (42501).
create or replace function {{schema}}.create_subscription(
  p_name text,
  p_from text default 'start',
  p_types text[] default null
) returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_from record;
  v_subscription subscriptions;
begin
  perform check_subscription_name(p_name);
  select r.transaction_id, r."position" into v_from from resolve_cursor(p_from) r;
  insert into subscriptions (name, transaction_id, "position", types, checkpoint_at)
  values (p_name, v_from.transaction_id, v_from."position", p_types, statement_timestamp())
  on conflict (name) do nothing;
  select * into v_subscription from subscriptions where name = p_name;
  perform check_subscription_manager(p_name, v_subscription.owner);
  if v_subscription.kind <> 'subscription' then
    raise exception 'Invalid subscription %: an async projection has this name', p_name
      using errcode = 'PE011', detail = json_build_object('subscription', p_name)::text,
            hint = 'Choose another name, or run the projection with startAsyncProjection.';
  end if;
  if v_subscription.types is distinct from p_types then
    update subscriptions set types = p_types, updated_at = statement_timestamp()
     where name = p_name
    returning * into v_subscription;
  end if;
  return v_subscription;
end;
$$;
