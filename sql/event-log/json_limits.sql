-- The limits of an event's body and metadata, the same on every way in (the TypeScript API checks
-- them too, src/store/validate.ts): at most 1 MiB of body and 64 KiB of metadata as PostgreSQL
-- stores them, jsonb uncompressed (what pg_column_size says of a value as it is built; a value copied
-- from a table that holds it compressed is measured decompressed), and neither nested more than
-- 1,000 levels deep (no item at level 1,001; the object itself is level 0). append_events checks them
-- to name the event's index; the events table's statement trigger (tg_events__after_insert) checks
-- every row of every INSERT, COPY and import.
--
-- Callers first ask pg_column_size(v) < 8000 and pg_column_compression(v) is null, which holds for
-- ordinary events and for no value that breaks a limit: every level of nesting takes at least
-- 8 bytes (a container's header and the entry of its one child), so fewer than 8,000 bytes cannot
-- hold 1,001 levels. Only larger values are measured and walked.
--
-- Why not check constraints: a check's expression is planned again for every statement (each
-- function in it costs about a microsecond per INSERT, 10-20 µs for these checks, measured), and
-- a check calling a function of the store's would need every writer to be granted it.

-- True when a body (p_max_bytes 1048576) or metadata (65536) breaks a limit. `|| '{}'` returns the
-- object itself, decompressed: its size as stored uncompressed.
create or replace function {{schema}}.json_limit_broken(p_value jsonb, p_max_bytes int) returns boolean
language sql
immutable
strict
parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_column_size(p_value || '{}') > p_max_bytes or jsonb_path_exists(p_value, 'strict $.**{1001}')
$$;

-- Raises PE003 for a body or metadata that breaks a limit, naming its size in bytes, or its depth
-- in levels (found by bisection: an item at level n exists for every n up to the depth, and every
-- level takes at least 8 bytes); returns for a value within them, or null (absent metadata).
-- p_event names the event in the message (' at index 3', or ''), p_context adds what is known
-- ('Stream: …, Version: 4'), p_detail the JSON detail's fields.
create or replace function {{schema}}.raise_json_limit(
  p_field text,
  p_value jsonb,
  p_max_bytes int,
  p_event text,
  p_context text,
  p_detail jsonb
) returns void
language plpgsql
strict
set search_path = pg_catalog, pg_temp
as $$
declare
  v_size int := pg_column_size(p_value || '{}');
  v_depth int := 1001;
  v_max_depth int := v_size / 8;
  v_level int;
begin
  if v_size > p_max_bytes then
    raise exception 'Invalid event%: % is % bytes, more than the limit of % (%)', p_event, p_field, v_size, p_max_bytes, p_context
      using errcode = 'PE003',
            detail = (p_detail || jsonb_build_object('field', p_field, 'limit', p_max_bytes, 'value', v_size))::text,
            hint = 'Store large payloads elsewhere and put a reference in the event.';
  end if;
  if not jsonb_path_exists(p_value, 'strict $.**{1001}') then
    return;
  end if;
  while v_depth < v_max_depth loop
    v_level := (v_depth + v_max_depth + 1) / 2;
    if jsonb_path_exists(p_value, format('strict $.**{%s}', v_level)::jsonpath) then
      v_depth := v_level;
    else
      v_max_depth := v_level - 1;
    end if;
  end loop;
  raise exception 'Invalid event%: % is nested % levels deep, more than the limit of 1000 (%)', p_event, p_field, v_depth, p_context
    using errcode = 'PE003',
          detail = (p_detail || jsonb_build_object('field', p_field, 'limit', 1000, 'value', v_depth))::text,
          hint = 'Flatten the JSON: at most 1000 levels of objects and arrays.';
end;
$$;
