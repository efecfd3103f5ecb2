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
  -- Tenant mode: no version of another tenant's stream is handed out (sql/tenants/tenant_mode.sql).
  perform check_stream_tenants(p_streams);
  return query
    select s.stream, s.version from streams s where s.stream = any(p_streams) order by s.stream for no key update;
end;
$$;

-- Appends the events of p_source, a table of the caller's (typically a temporary table filled by
-- COPY) with the columns
--   ord bigint (the order of the events: within a stream, the order of their versions),
--   uuid uuid, type text, body jsonb, metadata jsonb (null: {}), event_id uuid (null: a new one),
--   and optionally type_version int (the version of the type's shape the body has; null or no
--   such column: the type's current one; an older one is upcast or refused, as for any append),
-- to their streams, after each stream's current version, in one INSERT … SELECT: the event-log
-- checks and the projections' triggers run once for the whole import (batch handlers see it in
-- batches of 10,000). Rows whose event_id an earlier transaction stored in the same stream are
-- skipped, so that an import can be run again after a failure or with more lines; an event_id
-- stored in another stream, or stored by this transaction (an import loaded in parts, which calls
-- this once a part, meeting an id it already stored: a repeated line), fails the import. Runs
-- with the caller's rights (a writer's).
create or replace function {{schema}}.import_events(p_source regclass)
returns table (imported bigint, skipped bigint, streams bigint, first_position bigint, last_position bigint)
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_streams uuid[];
  v_rows bigint;
  v_type_version text := case when exists (select 1 from pg_attribute a
                                             where a.attrelid = p_source and a.attname = 'type_version'
                                               and a.attnum > 0 and not a.attisdropped)
                              then 'f.type_version' else 'null' end;
begin
  execute format('select array_agg(distinct s.uuid), count(*) from %s s', p_source) into v_streams, v_rows;
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
          or not exists (select 1 from {{schema}}.events e where e.event_id = s.event_id and e.uuid = s.uuid
                                                          and e.transaction_id <> pg_current_xact_id())
    ), inserted as (
      insert into {{schema}}.events (uuid, version, type, body, metadata, event_id, type_version)
      select f.uuid, l.version + row_number() over (partition by f.uuid order by f.ord),
             f.type, f.body, coalesce(f.metadata, '{}'), coalesce(f.event_id, {{schema}}.uuid_v7()), %s::int
        from fresh f join locked l on l.stream = f.uuid
       order by f.ord
      returning events.id
    )
    select count(*), $2 - count(*), cardinality($1)::bigint, min(i.id), max(i.id) from inserted i
  $q$, p_source, v_type_version) using v_streams, v_rows;
end;
$$;
