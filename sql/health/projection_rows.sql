-- Rows in a projection's tables: exact below a million (by the planner's estimate), the estimate
-- above. Null when the caller may not read one of the tables.
create or replace function {{schema}}.projection_rows(p_name text) returns bigint
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_table text;
  v_rel regclass;
  v_estimate real;
  v_count bigint;
  v_rows bigint := 0;
begin
  foreach v_table in array coalesce((select tables from projections where name = p_name), '{}') loop
    v_rel := to_regclass(v_table);
    continue when v_rel is null;
    select c.reltuples into v_estimate from pg_class c where c.oid = v_rel;
    if v_estimate >= 1000000 then
      v_rows := v_rows + v_estimate::bigint;
    elsif not has_table_privilege(v_rel, 'select') then
      return null;
    else
      execute format('select count(*) from %s', v_rel) into v_count;
      v_rows := v_rows + v_count;
    end if;
  end loop;
  return v_rows;
end;
$$;
