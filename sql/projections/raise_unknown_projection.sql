create or replace function {{schema}}.raise_unknown_projection(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Unknown projection: %', p_name
    using errcode = 'PE005',
          detail = json_build_object('projection', p_name)::text,
          hint = 'List the defined projections with: select name from {{schema}}.projections';
end;
$$;
