-- Abandons an unfinished rebuild: drops its shadow tables and forgets it. Returns whether there was
-- one. The live tables are not touched.
create or replace function {{schema}}.rebuild_cancel(p_name text) returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_rebuild rebuilds;
begin
  select * into v_rebuild from rebuilds where projection = p_name and phase <> 'done' for update;
  if not found then
    return false;
  end if;
  execute format('drop schema if exists %I cascade', v_rebuild.shadow_schema);
  delete from rebuilds where projection = p_name;
  return true;
end;
$$;
