-- Registers an async projection (TypeScript handlers run by a subscription): its event types and
-- the read-model tables that a replay empties. Starts at the beginning of the log. It runs with the
-- caller's rights, who becomes its owner (as with create_subscription): the tables must be ones the
-- caller may empty itself (TRUNCATE), so that a replay by an operator or the store's owner never
-- empties a table its owner could not, and never one of the store's own tables.
create or replace function {{schema}}.define_async_projection(
  p_name text,
  p_types text[],
  p_tables text[] default '{}'
) returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_table text;
  v_rel regclass;
  v_tables text[] := '{}';
  v_subscription subscriptions;
begin
  if p_name is null or p_name !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'Invalid projection name: %', coalesce(quote_literal(left(p_name, 80)), 'null')
      using errcode = 'PE006', detail = json_build_object('projection', left(p_name, 80))::text,
            hint = 'Use 1 to 40 characters: a lowercase letter, then lowercase letters, digits or _.';
  end if;
  if exists (select 1 from projections where name = p_name) then
    raise exception 'Invalid projection %: a trigger or materialized view projection has this name', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  if p_types is null or cardinality(p_types) = 0 then
    raise exception 'Invalid projection %: it handles no event type', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  foreach v_table in array coalesce(p_tables, '{}') loop
    v_rel := to_regclass(v_table);
    if v_rel is null then
      raise exception 'Invalid projection %: table % does not exist', p_name, v_table
        using errcode = 'PE006', detail = json_build_object('projection', p_name, 'table', v_table)::text,
              hint = 'Create the read-model table before starting the projection.';
    end if;
    if (select c.relnamespace from pg_class c where c.oid = v_rel) = '{{schema}}'::regnamespace then
      raise exception 'Invalid projection %: % is a table of the store', p_name, v_table
        using errcode = 'PE006', detail = json_build_object('projection', p_name, 'table', v_table)::text,
              hint = 'Keep read-model tables outside the store''s schema.';
    end if;
    if not has_table_privilege(v_rel, 'truncate') then
      raise exception 'Role % may not empty table %, which a replay of projection % does', current_user, v_table, p_name
        using errcode = '42501', detail = json_build_object('projection', p_name, 'table', v_table, 'role', current_user)::text,
              hint = 'Use tables the role owns, or grant it TRUNCATE on them.';
    end if;
    v_tables := v_tables || (select format('%I.%I', n.nspname, c.relname)
                               from pg_class c join pg_namespace n on n.oid = c.relnamespace
                              where c.oid = v_rel);
  end loop;
  insert into subscriptions (name, kind, types, tables, checkpoint_at)
  values (p_name, 'projection', p_types, v_tables, statement_timestamp())
  on conflict (name) do nothing;
  select * into v_subscription from subscriptions where name = p_name;
  perform check_subscription_manager(p_name, v_subscription.owner);
  if v_subscription.kind <> 'projection' then
    raise exception 'Invalid projection %: a subscription has this name', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  if v_subscription.types is distinct from p_types or v_subscription.tables is distinct from v_tables then
    update subscriptions set types = p_types, tables = v_tables, updated_at = statement_timestamp()
     where name = p_name
    returning * into v_subscription;
  end if;
  return v_subscription;
end;
$$;
