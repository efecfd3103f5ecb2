-- Runs the projection's rebuild statement (the fast path) into the shadow schema: its unqualified
-- table names resolve to the shadow copies, other names as for the caller of define_projection.
create or replace function {{schema}}.run_rebuild_sql(p_name text, p_schema name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_state text; v_message text; v_detail text;
begin
  select * into v_projection from projections where name = p_name;
  perform set_config('search_path', concat_ws(', ', quote_ident(p_schema), v_projection.rebuild_search_path), true);
  begin
    execute v_projection.rebuild_sql;
  exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, v_detail = pg_exception_detail;
    if v_state like '40%' or v_state in ('57014', '55P03') then
      raise;
    end if;
    raise exception 'The rebuild statement of projection % failed: %', p_name, v_message
      using errcode = 'PE024',
            detail = json_build_object('projection', p_name, 'sqlstate', v_state, 'message', v_message, 'detail', v_detail)::text,
            hint = 'Fix the statement and define the projection again; nothing was changed.';
  end;
  -- set_config(…, true) lasts until the end of the transaction; the function's own search_path
  -- setting is restored when it returns, so nothing leaks to the caller.
end;
$$;
