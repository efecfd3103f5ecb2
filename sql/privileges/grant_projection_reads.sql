-- Read access to a projection's tables for every recorded role (every kind reads), but tenant roles:
-- they read only the tables under a tenant policy (enable_tenant_policy).
create or replace function {{schema}}.grant_projection_reads(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_table text;
  v_role name;
begin
  for v_role in select distinct role_name from roles where access <> 'tenant' and to_regrole(quote_ident(role_name)) is not null loop
    foreach v_table in array (select tables from projections where name = p_name) loop
      if to_regclass(v_table) is not null then
        execute format('grant select on %s to %I', to_regclass(v_table), v_role);
      end if;
    end loop;
  end loop;
end;
$$;
