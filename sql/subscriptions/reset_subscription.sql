-- Moves a subscription's checkpoint to p_to ('start', 'end' or a cursor) and clears any failure;
-- its runner continues from there. An async projection resets only to 'start': its tables are
-- emptied in the same transaction (a replay). Returns the subscription.
-- Operators' (grant_operator) and the store's owner's: it runs with the caller's rights, so an
-- async projection's tables are emptied only when the caller may TRUNCATE them, and their identity
-- columns restart only when it owns their sequences.
create or replace function {{schema}}.reset_subscription(p_name text, p_to text default 'start') returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_subscription subscriptions;
  v_to record;
  v_restart boolean;
begin
  select * into v_subscription from subscriptions where name = p_name for update;
  if not found then
    perform raise_unknown_subscription(p_name);
  end if;
  if v_subscription.kind = 'projection' and coalesce(p_to, 'start') <> 'start' then
    raise exception 'Async projection % resets only to the start (its tables are rebuilt), not to %', p_name, p_to
      using errcode = 'PE012', detail = json_build_object('subscription', p_name, 'to', p_to)::text,
            hint = format('select {{schema}}.reset_subscription(%L)', p_name);
  end if;
  select r.transaction_id, r."position" into v_to from resolve_cursor(p_to) r;
  if v_subscription.kind = 'projection' and cardinality(v_subscription.tables) > 0 then
    -- Restarting the tables' identity columns and serials takes owning their sequences, which an
    -- operator emptying an application's tables does not: then the numbers go on.
    v_restart := not exists (
      select 1 from unnest(v_subscription.tables) t
        join pg_depend d on d.refclassid = 'pg_class'::regclass and d.refobjid = to_regclass(t)
                        and d.classid = 'pg_class'::regclass and d.deptype in ('a', 'i')
        join pg_class s on s.oid = d.objid and s.relkind = 'S'
       where not pg_has_role(s.relowner, 'usage'));
    execute 'truncate ' || (select string_agg(to_regclass(t)::text, ', ') from unnest(v_subscription.tables) t)
            || case when v_restart then ' restart identity' else '' end;
  end if;
  update subscriptions
     set transaction_id = v_to.transaction_id, "position" = v_to."position",
         attempts = 0, last_error = null, error_transaction_id = null, error_position = null,
         state = case when state = 'failed' then subscription_run_state(p_name) else state end,
         checkpoint_at = statement_timestamp(), reset_at = statement_timestamp(), updated_at = statement_timestamp()
   where name = p_name
  returning * into v_subscription;
  perform pg_notify('pgevents_{{schema}}', 'subscription ' || p_name);
  return v_subscription;
end;
$$;
