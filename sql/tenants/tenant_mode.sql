-- Tenant mode: many tenants in one store, kept apart by row-level security
-- (docs/scale-out.md#a-tenant-column-with-row-level-security). Off until enable_tenants(): a store
-- that never turns it on has no policy, trigger or security-invoker view of it, and the tenant
-- columns stay null.
--
-- Who appends: append_events and the events table's triggers run as the store's owner (SECURITY
-- DEFINER), where current_user names the owner. They take the role the session acts as instead:
-- the role of SET ROLE when one is set, else the session's login (acting_role). Row-level security
-- policies, which run as the querying role, take current_user; at the top level of a session both
-- name the same role.

-- The role this session acts as: the role of SET ROLE, else the login.
create or replace function {{schema}}.acting_role() returns name
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select coalesce(nullif(current_setting('role'), 'none'), session_user)::name;
$$;

-- The tenants whose rows p_role sees: those of the tenant roles whose privileges it has (itself, or a
-- group role it belongs to); null when it is not restricted: no tenant role applies, or it is a
-- superuser, a BYPASSRLS role or has the store owner's privileges (which row-level security does not
-- restrict either). Security definer, to read tenant_roles; called with current_user by the
-- policies (inside it current_user is the owner).
create or replace function {{schema}}.tenants_of(p_role name) returns text[]
language sql
stable
security definer
set search_path = {{schema}}, pg_temp
as $$
  select case
    when r.rolsuper or r.rolbypassrls
         or exists (select 1 from pg_namespace n where n.nspname = '{{schema}}' and pg_has_role(r.oid, n.nspowner, 'usage'))
      then null
    else (select array_agg(distinct t.tenant order by t.tenant) from tenant_roles t
           where to_regrole(quote_ident(t.role_name)) is not null
             and pg_has_role(r.oid, to_regrole(quote_ident(t.role_name)), 'usage'))
  end
  from pg_roles r where r.rolname = p_role;
$$;

-- Whether the store is in tenant mode (enable_tenants): row-level security is on for events.
create or replace function {{schema}}.tenant_mode() returns boolean
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select c.relrowsecurity from pg_class c where c.oid = '{{schema}}.events'::regclass;
$$;

-- The tenant an append by this session writes for: restricted (a tenant role: its one tenant), or
-- not (the owner, writers, operators: the tenant named by the setting pgevents.tenant, if any).
create or replace function {{schema}}.append_tenant(out restricted boolean, out tenant text)
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_role name := acting_role();
  v_tenants text[] := tenants_of(v_role);
begin
  if v_tenants is null then
    restricted := false;
    tenant := nullif(current_setting('pgevents.tenant', true), '');
  elsif cardinality(v_tenants) = 1 then
    restricted := true;
    tenant := v_tenants[1];
  else
    raise exception 'Role % is a role of % tenants: it reads theirs, but appends to none', v_role, cardinality(v_tenants)
      using errcode = 'PE041', detail = json_build_object('role', v_role, 'tenants', cardinality(v_tenants))::text,
            hint = 'Append as a role of one tenant (SET ROLE to it, or log in as it).';
  end if;
end;
$$;

-- The one refusal an append to another tenant's stream gets. It says that the stream id is taken
-- (stream ids are unique across the store), and nothing else: not its tenant, version or events.
create or replace function {{schema}}.raise_foreign_stream(p_stream uuid) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Stream % belongs to another tenant', p_stream
    using errcode = 'PE040', detail = json_build_object('stream', p_stream)::text,
          hint = 'Append to a stream of your tenant, or to a new stream id.';
end;
$$;

-- Refuses (PE040) when a restricted session names a stream of another tenant: lock_streams (imports)
-- calls it before handing out the streams' versions.
create or replace function {{schema}}.check_stream_tenants(p_streams uuid[]) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_append record;
  v_foreign uuid;
begin
  if not tenant_mode() then
    return;
  end if;
  select * into v_append from append_tenant();
  if v_append.restricted or v_append.tenant is not null then
    select s.stream into v_foreign from streams s
     where s.stream = any(p_streams) and s.tenant is distinct from v_append.tenant
     order by s.stream limit 1;
    if found then
      perform raise_foreign_stream(v_foreign);
    end if;
  end if;
end;
$$;

-- A new stream gets the appending session's tenant; an append to a stream of another tenant is
-- refused before anything of the stream is read (append_events takes the stream's row first). A
-- stream's tenant never changes.
create or replace function {{schema}}.tg_streams__tenant() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_append record;
begin
  select * into v_append from append_tenant();
  if tg_op = 'INSERT' then
    new.tenant := case when v_append.restricted then v_append.tenant else coalesce(new.tenant, v_append.tenant) end;
  else
    new.tenant := old.tenant;
    if new.version is distinct from old.version
       and (v_append.restricted or v_append.tenant is not null)
       and old.tenant is distinct from v_append.tenant then
      perform raise_foreign_stream(old.stream);
    end if;
  end if;
  return new;
end;
$$;

-- An event gets its stream's tenant (a new stream: the session's); a restricted session's event in
-- another tenant's stream is refused (plain INSERT into events takes this path).
create or replace function {{schema}}.tg_events__tenant() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_append record;
  v_stream_tenant text;
  v_found boolean;
begin
  select * into v_append from append_tenant();
  select s.tenant into v_stream_tenant from streams s where s.stream = new.uuid;
  v_found := found;
  if v_found and (v_append.restricted or v_append.tenant is not null)
     and v_stream_tenant is distinct from v_append.tenant then
    perform raise_foreign_stream(new.uuid);
  end if;
  new.tenant := case when v_found then v_stream_tenant else v_append.tenant end;
  return new;
end;
$$;

-- The row filter of every tenant policy: rows of the querying role's tenants, every row for a
-- role that is not restricted. The subqueries are computed once per statement (InitPlans).
create or replace function {{schema}}.tenant_policy_sql(p_column name) returns text
language sql
immutable
set search_path = {{schema}}, pg_temp
as $$
  select format('(select {{schema}}.tenants_of(current_user)) is null or %I = any ((select {{schema}}.tenants_of(current_user))::text[])', p_column);
$$;

-- Puts the tenant mode in place, or again (every migrate re-creates the views, which drops their
-- security_invoker): row-level security and policies on events and streams, the tenant triggers,
-- and views that read events with the reading role's rights (so that its policies apply). The
-- policies of read-model tables (enable_tenant_policy) stay as they are.
create or replace function {{schema}}.apply_tenant_mode() returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_table text;
  v_view text;
begin
  foreach v_table in array array['events', 'streams'] loop
    execute format('alter table {{schema}}.%I enable row level security', v_table);
    execute format('drop policy if exists %I on {{schema}}.%I', v_table || '_tenant', v_table);
    execute format('create policy %I on {{schema}}.%I using (%s) with check (%s)',
                   v_table || '_tenant', v_table, tenant_policy_sql('tenant'), tenant_policy_sql('tenant'));
  end loop;
  create or replace trigger streams_tenant
    before insert or update on {{schema}}.streams
    for each row execute function {{schema}}.tg_streams__tenant();
  create or replace trigger events_tenant
    before insert on {{schema}}.events
    for each row execute function {{schema}}.tg_events__tenant();
  foreach v_view in array array['current_events', 'safe_events', 'event_types', 'subscription_status'] loop
    execute format('alter view {{schema}}.%I set (security_invoker = true)', v_view);
  end loop;
end;
$$;

-- Turns tenant mode on (idempotent). Needs PostgreSQL 15 or later (security_invoker views); the
-- store's owner runs it. Existing streams and events keep a null tenant: no tenant role sees them.
create or replace function {{schema}}.enable_tenants() returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  if current_setting('server_version_num')::int < 150000 then
    raise exception 'Tenant mode needs PostgreSQL 15 or later (this server is %)', current_setting('server_version')
      using errcode = 'PE041', detail = json_build_object('server_version', current_setting('server_version'))::text,
            hint = 'Upgrade the server, or keep tenants apart with one store per tenant schema (pgevents tenants).';
  end if;
  perform apply_tenant_mode();
end;
$$;

-- Makes p_role a role of tenant p_tenant: it appends (append_events, plain INSERT, imports) only to
-- its tenant's streams (new streams become its tenant's), reads only its tenant's events (every
-- path), runs its own subscriptions (which deliver only its tenant's events) and reads the rows of
-- its tenant in read models under enable_tenant_policy. Recorded in roles and tenant_roles. A
-- tenant role has no other kind of access: those read every event and every read model.
create or replace function {{schema}}.grant_tenant(p_role name, p_tenant text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_role regrole := to_regrole(quote_ident(p_role));
  v_other text;
begin
  if v_role is null then
    raise exception 'Unknown role: %', p_role
      using errcode = 'PE006', detail = json_build_object('role', p_role)::text,
            hint = 'Create it first: create role <name> login;';
  end if;
  if not tenant_mode() then
    raise exception 'Tenant mode is off: enable it before granting tenant roles'
      using errcode = 'PE041', detail = json_build_object('role', p_role, 'tenant', p_tenant)::text,
            hint = 'select {{schema}}.enable_tenants(); (CLI: pgevents tenants enable-column)';
  end if;
  if p_tenant is null or p_tenant !~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$' then
    raise exception 'Invalid tenant: %', coalesce(p_tenant, 'null')
      using errcode = 'PE025', detail = json_build_object('field', 'tenant')::text,
            hint = 'A tenant is 1 to 63 letters, digits, _ . : or -, starting with a letter or digit.';
  end if;
  if exists (select 1 from pg_roles r where r.oid = v_role and (r.rolsuper or r.rolbypassrls))
     or exists (select 1 from pg_namespace n where n.nspname = '{{schema}}' and pg_has_role(v_role, n.nspowner, 'usage')) then
    raise exception 'Role % cannot be a tenant role: row-level security does not restrict it (a superuser, BYPASSRLS, or the store''s owner)', p_role
      using errcode = 'PE041', detail = json_build_object('role', p_role, 'tenant', p_tenant)::text;
  end if;
  select t.tenant into v_other from tenant_roles t where t.role_name = p_role;
  if found and v_other <> p_tenant then
    raise exception 'Role % is already a role of another tenant', p_role
      using errcode = 'PE041', detail = json_build_object('role', p_role, 'tenant', p_tenant)::text,
            hint = 'Give each tenant roles of its own.';
  end if;
  select r.access into v_other from roles r where r.role_name = p_role and r.access <> 'tenant' limit 1;
  if found then
    raise exception 'Role % already has % access, which reads every tenant''s events: a tenant role has no other kind', p_role, v_other
      using errcode = 'PE041', detail = json_build_object('role', p_role, 'tenant', p_tenant, 'access', v_other)::text;
  end if;
  insert into tenant_roles (role_name, tenant) values (p_role, p_tenant) on conflict (role_name) do nothing;
  insert into roles (role_name, access) values (p_role, 'tenant') on conflict (role_name, access) do nothing;
  perform grant_tenant_access(p_role);
end;
$$;

-- What a tenant role is granted (grant_tenant; again on every migrate): a writer's and a
-- subscriber's rights over the objects that row-level security or security-invoker views filter,
-- and none over those that would show other tenants' data (snapshots, stream_lifecycle,
-- projection_health, rebuild_progress, stream_state, the read models not under a tenant policy).
create or replace function {{schema}}.grant_tenant_access(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_table text;
begin
  execute format('grant usage on schema {{schema}} to %I', p_role);
  execute format('grant select on {{schema}}.events, {{schema}}.streams, {{schema}}.current_events, {{schema}}.safe_events, '
                 '{{schema}}.event_types, {{schema}}.migrations, {{schema}}.projections, {{schema}}.projection_handlers, '
                 '{{schema}}.event_upcasters, {{schema}}.event_type_declarations, {{schema}}.personal_data_declarations, '
                 '{{schema}}.subscriptions, {{schema}}.subscription_status to %I', p_role);
  execute format('grant insert (uuid, version, type, body, metadata, event_id, type_version) on {{schema}}.events to %I', p_role);
  execute format('grant insert (name, kind, transaction_id, "position", types, tables, checkpoint_at) '
                 'on {{schema}}.subscriptions to %I', p_role);
  execute format('grant update (transaction_id, "position", state, types, tables, attempts, last_error, '
                 'error_transaction_id, error_position, runner, updated_at, checkpoint_at) '
                 'on {{schema}}.subscriptions to %I', p_role);
  execute format('grant execute on function {{schema}}.read_stream(uuid, bigint, int, boolean), '
                 '{{schema}}.read_all(xid8, bigint, int, text[]), {{schema}}.read_all_after(text, int, text[]), '
                 '{{schema}}.read_page(xid8, bigint, int, text[]), {{schema}}.safe_horizon(), {{schema}}.strict_event_types(), '
                 '{{schema}}.upcast_body(text, int, jsonb), {{schema}}.reveal_personal_data(text, jsonb), '
                 '{{schema}}.upcast_sources(text[]), {{schema}}.types_read_as_stored(text[]), {{schema}}.parse_cursor(text), '
                 '{{schema}}.resolve_cursor(text), {{schema}}.subscription_lock_key(text), {{schema}}.subscription_is_locked(text), '
                 '{{schema}}.has_store_access(name, text), {{schema}}.may_manage_subscription(name, name), {{schema}}.tenants_of(name), '
                 '{{schema}}.append_events(uuid, jsonb, text), {{schema}}.import_events(regclass), '
                 '{{schema}}.lock_streams(uuid[]), {{schema}}.uuid_v7(), '
                 '{{schema}}.create_subscription(text, text, text[]), {{schema}}.define_async_projection(text, text[], text[]), '
                 '{{schema}}.start_subscription_run(text, text), {{schema}}.stop_subscription_run(text), '
                 '{{schema}}.save_subscription_checkpoint(text, xid8, bigint, xid8, bigint), '
                 '{{schema}}.record_subscription_failure(text, xid8, bigint, xid8, bigint, text, int), '
                 '{{schema}}.check_subscription_name(text), {{schema}}.check_subscription_manager(text, name), '
                 '{{schema}}.raise_unknown_subscription(text), '
                 '{{schema}}.register_listener(uuid), {{schema}}.unregister_listener(uuid), '
                 '{{schema}}.set_listener_awake(uuid, boolean), {{schema}}.events_writers_active() to %I', p_role);
  for v_table in select t.table_name from tenant_tables t where to_regclass(t.table_name) is not null loop
    execute format('grant select on %s to %I', to_regclass(v_table), p_role);
  end loop;
end;
$$;

-- Puts a read-model table the application owns under a tenant policy: row-level security, and a
-- policy that shows (and lets write) a tenant role only the rows whose p_column is its tenant;
-- every tenant role may read it. Trigger projections write the tenant of the event they apply
-- (the tenant column of the event row their handler gets). Run by a role that owns the table and
-- the store (ALTER TABLE needs the table's owner); recorded in tenant_tables, so that tenant roles
-- granted later read it too. Idempotent.
create or replace function {{schema}}.enable_tenant_policy(p_table regclass, p_column name default 'tenant') returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_role name;
begin
  if not exists (select 1 from pg_attribute a where a.attrelid = p_table and a.attname = p_column
                                               and a.attnum > 0 and not a.attisdropped) then
    raise exception 'Table % has no column %', p_table, p_column
      using errcode = 'PE025', detail = json_build_object('table', p_table::text, 'field', p_column)::text,
            hint = 'Add it first: alter table <table> add column tenant text;';
  end if;
  execute format('alter table %s enable row level security', p_table);
  execute format('drop policy if exists pgevents_tenant on %s', p_table);
  execute format('create policy pgevents_tenant on %s using (%s) with check (%s)',
                 p_table, tenant_policy_sql(p_column), tenant_policy_sql(p_column));
  insert into tenant_tables (table_name, column_name) values (p_table::text, p_column)
  on conflict (table_name) do update set column_name = excluded.column_name;
  for v_role in select t.role_name from tenant_roles t where to_regrole(quote_ident(t.role_name)) is not null loop
    execute format('grant select on %s to %I', p_table, v_role);
  end loop;
end;
$$;
