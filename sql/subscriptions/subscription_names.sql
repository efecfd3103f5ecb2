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
