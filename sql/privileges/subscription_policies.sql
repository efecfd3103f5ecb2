-- Row-level security on subscriptions (enabled by migration 0008): every role granted access reads
-- every subscription (a tenant role its own); a subscriber creates subscriptions as itself and changes only those it may
-- manage (may_manage_subscription), an operator changes any. Table privileges decide who may write
-- at all and which columns (grant_subscriber, grant_operator); the store's owner bypasses these
-- policies. Policies cannot be replaced, so they are dropped and created again.
-- A tenant role (grant_tenant) reads only the subscriptions it may manage: its own.
drop policy if exists subscriptions_read on {{schema}}.subscriptions;
create policy subscriptions_read on {{schema}}.subscriptions
  for select
  using ((select {{schema}}.tenants_of(current_user)) is null or {{schema}}.may_manage_subscription(current_user, owner));

drop policy if exists subscriptions_create on {{schema}}.subscriptions;
create policy subscriptions_create on {{schema}}.subscriptions
  for insert
  with check (owner = current_user and {{schema}}.has_store_access(current_user, 'subscriber'));

drop policy if exists subscriptions_change on {{schema}}.subscriptions;
create policy subscriptions_change on {{schema}}.subscriptions
  for update
  using ({{schema}}.may_manage_subscription(current_user, owner))
  with check ({{schema}}.may_manage_subscription(current_user, owner));
