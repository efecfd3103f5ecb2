-- Drop a projection: its trigger, its generated functions, an unfinished rebuild's shadow tables
-- and its registry entry. Read-model tables are kept unless p_drop_tables; a materialized view
-- projection drops its view.
create or replace function {{schema}}.drop_projection(p_name text, p_drop_tables boolean default false) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_table text;
begin
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  perform rebuild_cancel(p_name);
  if v_projection.kind = 'materialized_view' then
    execute format('drop materialized view if exists %s', v_projection.tables[1]);
  else
    execute format('drop trigger if exists %I on {{schema}}.events', 'project_' || p_name);
    execute format('drop function if exists {{schema}}.%I()', 'tg_events__project_' || p_name);
    execute format('drop function if exists {{schema}}.%I(bigint, int, uuid, text[])', 'projection_apply__' || p_name);
    if p_drop_tables then
      foreach v_table in array v_projection.tables loop
        if to_regclass(v_table) is not null then
          execute format('drop table %s', to_regclass(v_table));
        end if;
      end loop;
    end if;
  end if;
  delete from projections where name = p_name;
end;
$$;

