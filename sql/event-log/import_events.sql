-- Import ---------------------------------------------------------------------------------------

-- Locks the given streams' rows for the rest of the transaction, in stream order so that two
-- imports never deadlock on each other, creating the rows of new streams; returns each stream's
-- recorded version.
create or replace function {{schema}}.lock_streams(p_streams uuid[]) returns table (stream uuid, version bigint)
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
begin
  insert into streams as s (stream, version)
  select u, 0 from unnest(p_streams) u order by u
  on conflict on constraint streams_pkey do nothing;
  return query
    select s.stream, s.version from streams s where s.stream = any(p_streams) order by s.stream for no key update;
end;
$$;

-- Appends the events of p_source, a table of the caller's (typically a temporary table filled by
-- COPY) with the columns
--   ord bigint (the order of the events: within a stream, the order of their versions),
--   uuid uuid, type text, body jsonb, metadata jsonb (null: {}), event_id uuid (null: a new one),
-- to their streams, after each stream's current version, in one INSERT … SELECT: the event-log
-- checks and the projections' triggers run once for the whole import (batch handlers see it in
-- batches of 10,000). Rows whose event_id is already stored in the same stream are skipped, so
-- that an import can be run again after a failure or with more lines; an event_id stored in
-- another stream fails the import. Runs with the caller's rights (a writer's).
-- The limits of the events table's checks (events_json_limits.sql) are checked in the first scan
-- of p_source, so that the error names the row (its ord and stream) and what it measured: only a
-- row of 8,000 bytes or more, or one its table holds compressed, is measured.
create or replace function {{schema}}.import_events(p_source regclass)
returns table (imported bigint, skipped bigint, streams bigint, first_position bigint, last_position bigint)
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_streams uuid[];
  v_rows bigint;
  v_bad_ord bigint;
  v_stream uuid;
  v_field text;
  v_value jsonb;
  v_size int;
  v_max_size int;
  v_depth int;
  v_max_depth int;
  v_level int;
begin
  execute format($q$
    select array_agg(distinct s.uuid), count(*),
           min(s.ord) filter (where not (
             (pg_column_size(s.body) < 8000 and pg_column_compression(s.body) is null
              or pg_column_size(s.body || '{}') <= 1048576 and not jsonb_path_exists(s.body, 'strict $.**{1001}'))
             and (s.metadata is null
                  or pg_column_size(s.metadata) < 8000 and pg_column_compression(s.metadata) is null
                  or pg_column_size(s.metadata || '{}') <= 65536 and not jsonb_path_exists(s.metadata, 'strict $.**{1001}'))))
      from %s s
  $q$, p_source) into v_streams, v_rows, v_bad_ord;
  if v_bad_ord is not null then
    execute format($q$
      select s.uuid, l.field, l.value, pg_column_size(l.value || '{}'), l.max_size
        from %s s,
             lateral (values ('body', s.body, 1048576, 1), ('metadata', s.metadata, 65536, 2)) l(field, value, max_size, n)
       where s.ord = $1
         and (pg_column_size(l.value || '{}') > l.max_size or jsonb_path_exists(l.value, 'strict $.**{1001}'))
       order by l.n
       limit 1
    $q$, p_source) using v_bad_ord into v_stream, v_field, v_value, v_size, v_max_size;
    if v_size <= v_max_size then
      -- The depth, found by bisection, as append_events does.
      v_depth := 1001;
      v_max_depth := v_size / 8;
      while v_depth < v_max_depth loop
        v_level := (v_depth + v_max_depth + 1) / 2;
        if jsonb_path_exists(v_value, format('strict $.**{%s}', v_level)::jsonpath) then
          v_depth := v_level;
        else
          v_max_depth := v_level - 1;
        end if;
      end loop;
    end if;
    raise exception 'Invalid event at ord %: % (Stream: %)', v_bad_ord,
      case when v_size > v_max_size then format('%s is %s bytes, more than the limit of %s', v_field, v_size, v_max_size)
           else format('%s is nested %s levels deep, more than the limit of 1000', v_field, v_depth) end,
      v_stream
      using errcode = 'PE003',
            detail = json_build_object('stream', v_stream, 'ord', v_bad_ord, 'field', v_field,
                                       'limit', case when v_size > v_max_size then v_max_size else 1000 end,
                                       'value', case when v_size > v_max_size then v_size else v_depth end)::text,
            hint = case when v_size > v_max_size then 'Store large payloads elsewhere and put a reference in the event.'
                        else 'Flatten the JSON: at most 1000 levels of objects and arrays.' end;
  end if;
  if v_rows = 0 then
    return query select 0::bigint, 0::bigint, 0::bigint, null::bigint, null::bigint;
    return;
  end if;
  if array_position(v_streams, null) is not null then
    raise exception 'Invalid import: an event has no stream (uuid)'
      using errcode = 'PE003', detail = json_build_object('field', 'uuid')::text,
            hint = 'Give every event the uuid of its stream.';
  end if;
  return query execute format($q$
    with locked as materialized (
      select l.stream, l.version from {{schema}}.lock_streams($1) l
    ), fresh as (
      select s.* from %s s
       where s.event_id is null
          or not exists (select 1 from {{schema}}.events e where e.event_id = s.event_id and e.uuid = s.uuid)
    ), inserted as (
      insert into {{schema}}.events (uuid, version, type, body, metadata, event_id)
      select f.uuid, l.version + row_number() over (partition by f.uuid order by f.ord),
             f.type, f.body, coalesce(f.metadata, '{}'), coalesce(f.event_id, {{schema}}.uuid_v7())
        from fresh f join locked l on l.stream = f.uuid
       order by f.ord
      returning events.id
    )
    select count(*), $2 - count(*), cardinality($1)::bigint, min(i.id), max(i.id) from inserted i
  $q$, p_source) using v_streams, v_rows;
end;
$$;
