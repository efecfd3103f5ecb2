-- Registers an async projection (TypeScript handlers run by a subscription): its event types and
-- the read-model tables that a replay empties. Starts at the beginning of the log.
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
    v_tables := v_tables || (select format('%I.%I', n.nspname, c.relname)
                               from pg_class c join pg_namespace n on n.oid = c.relnamespace
                              where c.oid = v_rel);
  end loop;
  insert into subscriptions (name, kind, types, tables, checkpoint_at)
  values (p_name, 'projection', p_types, v_tables, statement_timestamp())
  on conflict (name) do nothing;
  select * into v_subscription from subscriptions where name = p_name;
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
