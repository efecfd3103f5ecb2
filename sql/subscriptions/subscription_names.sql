create or replace function {{schema}}.raise_unknown_subscription(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Unknown subscription: %', p_name
    using errcode = 'PE010', detail = json_build_object('subscription', p_name)::text,
          hint = 'List the subscriptions with `pgevents subscriptions`.';
end;
$$;

create or replace function {{schema}}.check_subscription_name(p_name text) returns void
language plpgsql
immutable
set search_path = {{schema}}, pg_temp
as $$
begin
  if p_name is null or p_name !~ '^[a-z][a-z0-9_-]{0,62}$' then
    raise exception 'Invalid subscription name: %', coalesce(quote_literal(left(p_name, 80)), 'null')
      using errcode = 'PE011', detail = json_build_object('subscription', left(p_name, 80))::text,
            hint = 'Use 1 to 63 characters: a lowercase letter, then lowercase letters, digits, _ or -.';
  end if;
end;
$$;

-- Refuses (42501) a subscription the caller may not run or change: one created by another role,
-- unless the caller has that role's privileges, or is an operator or the store's owner
-- (may_manage_subscription). p_owner: the subscription's owner (null: created before pgevents 0008).
create or replace function {{schema}}.check_subscription_manager(p_name text, p_owner name) returns void
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
begin
  if not may_manage_subscription(current_user, p_owner) then
    raise exception 'Role % may not run subscription %: it belongs to %', current_user, p_name,
                    coalesce('role ' || quote_ident(p_owner), 'the store''s owner (it was created before pgevents 0008)')
      using errcode = '42501',
            detail = json_build_object('subscription', p_name, 'role', current_user, 'owner', p_owner)::text,
            hint = format('Run it as the role that created it or choose another name; the store''s owner can hand it over: '
                          'update {{schema}}.subscriptions set owner = %L where name = %L', current_user, p_name);
  end if;
end;
$$;
