-- pgevents 0016: the tenant column, for stores that keep many tenants apart with row-level
-- security (enable_tenants(); docs/scale-out.md#a-tenant-column-with-row-level-security).
-- Nullable columns without a default: adding them rewrites no row and costs a store that never
-- enables the mode nothing (a null in a row's null bitmap). They stay null until enable_tenants()
-- turns the mode on; from then on every new stream and event gets the tenant of the role that
-- appends it. Added to every store rather than when the mode is turned on, so that the events
-- table's row type (which read_stream and read_all return) is the same in every store.
alter table {{schema}}.events add column tenant text;
alter table {{schema}}.streams add column tenant text;

comment on column {{schema}}.events.tenant is 'The tenant the event belongs to (tenant mode only: enable_tenants(); null otherwise).';
comment on column {{schema}}.streams.tenant is 'The tenant the stream belongs to (tenant mode only: enable_tenants(); null otherwise).';

-- Tenant roles (grant_tenant): each role sees and appends only the events of its tenant.
create table {{schema}}.tenant_roles (
  role_name name primary key,
  tenant text not null check (tenant ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$')
);
comment on table {{schema}}.tenant_roles is 'Tenant roles (grant_tenant): a role, and every role with its privileges, sees and appends only the events and read-model rows of its tenant.';

-- Read-model tables under a tenant policy (enable_tenant_policy): their tenant column.
create table {{schema}}.tenant_tables (
  table_name text primary key,
  column_name name not null
);
comment on table {{schema}}.tenant_tables is 'Read-model tables whose rows tenant roles see only for their tenant (enable_tenant_policy).';

alter table {{schema}}.roles drop constraint roles_access_valid;
alter table {{schema}}.roles add constraint roles_access_valid
  check (access in ('reader', 'writer', 'subscriber', 'operator', 'personal_data_reader', 'tenant'));
