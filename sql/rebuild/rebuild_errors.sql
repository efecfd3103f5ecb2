create or replace function {{schema}}.raise_rebuild_refused(p_name text, p_reason text, p_hint text, p_table text default null)
returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Rebuild of projection % refused: %', p_name, p_reason
    using errcode = 'PE020',
          detail = json_build_object('projection', p_name, 'table', p_table)::text,
          hint = p_hint;
end;
$$;

create or replace function {{schema}}.raise_no_rebuild(p_name text, p_reason text, p_hint text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Rebuild of projection %: %', p_name, p_reason
    using errcode = 'PE021', detail = json_build_object('projection', p_name)::text, hint = p_hint;
end;
$$;

-- Raises the error a failed rebuild recorded, with its SQLSTATE, detail and hint.
create or replace function {{schema}}.raise_rebuild_failure(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_error jsonb := (select error from rebuilds where projection = p_name and phase = 'failed');
begin
  if v_error is null then
    return;
  end if;
  raise exception using
    message = coalesce(v_error ->> 'message', format('Rebuild of projection %s failed', p_name)),
    errcode = coalesce(v_error ->> 'sqlstate', 'PE024'),
    detail = coalesce(v_error ->> 'detail', ''),
    hint = coalesce(nullif(v_error ->> 'hint', ''),
                    format('Fix the cause, then resume with: call {{schema}}.rebuild_projection(%L)', p_name));
end;
$$;
