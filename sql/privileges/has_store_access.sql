-- Whether p_role may act as a kind of role ('reader', 'writer', 'subscriber', 'operator'): it has
-- the privileges of a role recorded in roles with that kind, or of the store's owner (its members
-- included; a superuser has every role's). Row-level security and the subscriptions' checks call it
-- with current_user: inside this security definer function current_user is the owner.
create or replace function {{schema}}.has_store_access(p_role name, p_access text) returns boolean
language sql
stable
security definer
set search_path = {{schema}}, pg_temp
as $$
  select exists (select 1 from pg_namespace n
                  where n.nspname = '{{schema}}' and pg_has_role(p_role, n.nspowner, 'usage'))
      or exists (select 1 from roles r
                  -- A tenant role (grant_tenant) reads, appends and runs subscriptions: its own tenant's.
                  where (r.access = p_access or (r.access = 'tenant' and p_access in ('reader', 'writer', 'subscriber')))
                    and to_regrole(quote_ident(r.role_name)) is not null
                    and pg_has_role(p_role, to_regrole(quote_ident(r.role_name)), 'usage'));
$$;

-- Whether p_role may run or change a subscription created by p_owner: an operator (or the store's
-- owner) any; a subscriber those created by a role whose privileges it has (itself, or a group
-- role it belongs to). Subscriptions without an owner (created before pgevents 0008) are the
-- operators' only.
create or replace function {{schema}}.may_manage_subscription(p_role name, p_owner name) returns boolean
language sql
stable
security definer
set search_path = {{schema}}, pg_temp
as $$
  select has_store_access(p_role, 'operator')
      or (p_owner is not null
          and to_regrole(quote_ident(p_owner)) is not null
          and pg_has_role(p_role, to_regrole(quote_ident(p_owner)), 'usage')
          and has_store_access(p_role, 'subscriber'));
$$;
