-- A materialized view over the events is a second kind of projection.
-- p_unique_columns: when given, a unique index on them lets refreshes run concurrently.
-- The view is created in p_schema, else the caller's current schema (this function does not pin
-- search_path, so the query sees what the caller sees). The snapshot taken before the view is
-- filled is recorded: staleness counts the events committed since.
create or replace function {{schema}}.define_materialized_view(
  p_name text,
  p_query text,
  p_unique_columns text[] default null,
  p_schema text default null
) returns void
language plpgsql
as $$
declare
  v_schema text := coalesce(p_schema, current_schema());
  v_relation text;
  v_snapshot pg_snapshot := pg_current_snapshot();
begin
  if p_name is null or p_name !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'Invalid materialized view name: %', coalesce(p_name, 'null')
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = 'Use 1 to 40 characters: a lowercase letter, then lowercase letters, digits or _.';
  end if;
  if exists (select 1 from {{schema}}.projections where name = p_name) then
    raise exception 'Invalid materialized view %: a projection with this name exists', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = format('Drop it first: select {{schema}}.drop_projection(%L)', p_name);
  end if;
  if p_query is null or btrim(p_query) = '' then
    raise exception 'Invalid materialized view %: the query is empty', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  v_relation := format('%I.%I', v_schema, p_name);
  execute format('create materialized view %s as %s', v_relation, p_query);
  if p_unique_columns is not null and cardinality(p_unique_columns) > 0 then
    execute format('create unique index %I on %s (%s)', p_name || '_unique_key', v_relation,
                   (select string_agg(format('%I', c), ', ') from unnest(p_unique_columns) c));
  end if;
  insert into {{schema}}.projections (name, kind, tables, view_query, last_refreshed_at, refreshed_position,
                                      refreshed_snapshot)
  values (p_name, 'materialized_view', array[v_relation], p_query, statement_timestamp(),
          (select max(id) from {{schema}}.events), v_snapshot);
  perform {{schema}}.grant_projection_reads(p_name);
end;
$$;

