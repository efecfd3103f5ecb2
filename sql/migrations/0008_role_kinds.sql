-- pgevents 0008: kinds of roles for what applications run.
-- Besides readers and writers, a role may be a subscriber (runs its own subscriptions, async
-- projections and tail) or an operator (resets, skips and resumes any subscription), and may hold
-- several kinds at once: roles records one row per role and kind. The rows of earlier releases
-- (one per role, reader or writer) are kept as they are.

alter table {{schema}}.roles drop constraint roles_pkey;
alter table {{schema}}.roles add constraint roles_pkey primary key (role_name, access);
alter table {{schema}}.roles drop constraint roles_access_valid;
alter table {{schema}}.roles add constraint roles_access_valid
  check (access in ('reader', 'writer', 'subscriber', 'operator'));

comment on table {{schema}}.roles is 'Roles given access with grant_reader, grant_writer, grant_subscriber or grant_operator, one row per role and kind: granted again whenever the definitions are applied, and read models defined later are granted to them.';

-- The role that created a subscription: subscribers change only their own (row-level security,
-- sql/privileges/subscription_policies.sql). Subscriptions created before this release have none:
-- only the store's owner and operators may change them. Added without a default first, so that
-- existing rows stay null instead of taking the role that runs this migration.
alter table {{schema}}.subscriptions add column owner name;
alter table {{schema}}.subscriptions alter column owner set default current_user;

comment on column {{schema}}.subscriptions.owner is 'The role that created the subscription (null: created before pgevents 0008); subscribers may change only the subscriptions of roles whose privileges they have.';

alter table {{schema}}.subscriptions enable row level security;
