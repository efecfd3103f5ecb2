-- What only an operator (or the store's owner) may do to a subscription, whoever holds the table
-- privileges: take it out of the failed state, move the checkpoint of a failed one, move a
-- checkpoint back, or give it to another role. A runner only ever moves its checkpoint forward,
-- records failures and marks itself running or stopped, so a subscriber can reset, skip or resume
-- nothing, not even its own subscriptions with plain SQL.
create or replace function {{schema}}.tg_subscriptions__check_change() returns trigger
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  if ((old.state = 'failed'
       and (new.state <> 'failed'
            or (new.transaction_id, new."position") <> (old.transaction_id, old."position")))
      or (new.transaction_id, new."position") < (old.transaction_id, old."position")
      or new.owner is distinct from old.owner)
     and not has_store_access(current_user, 'operator') then
    raise exception 'Role % may not reset, skip, resume or hand over subscription %: only operators may', current_user, old.name
      using errcode = '42501',
            detail = json_build_object('subscription', old.name, 'role', current_user)::text,
            hint = 'Ask an operator (a role given pgevents grant --operator) or the store''s owner.';
  end if;
  return new;
end;
$$;

create or replace trigger subscriptions_check_change
before update on {{schema}}.subscriptions
for each row
execute function {{schema}}.tg_subscriptions__check_change();
