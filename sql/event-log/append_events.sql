-- Append a batch of events to one stream, atomically, under an expected version.
-- p_events: a JSON array of {"type": text, "body": object, "metadata"?: object, "id"?: uuid,
--   "type_version"?: the version of the type's shape the body has (default: the current one)}.
-- p_expected_version: 'any', 'no_stream', 'stream_exists', or the stream's exact current version.
-- Idempotency: when every event of the batch carries an id that is already stored in this stream,
-- nothing is written and the stored versions and positions are returned (a retry after a lost
-- connection), whatever the expected version.
--
-- The limits (as the TypeScript API's; json_limits.sql): at most 10,000 events; each body at most
-- 1 MiB and its metadata at most 64 KiB as stored, neither nested more than 1,000 levels deep. They
-- are checked in the one pass below, so that the error names the event's index and what it
-- measured (the events table's trigger would only know the stream and version); an event of fewer
-- than 8,000 bytes cannot break them, so only larger ones are measured.
--
-- Few statements per call, since each costs more than the work in it: the events are checked and
-- their ids collected in one pass; without ids, the stream's row is
-- locked, the expected version checked and the events inserted in one statement; with ids, the
-- stored-ids lookup (after the lock, so that it sees a concurrent first attempt that committed)
-- probes the batch's first id only: a retry carries it (then the whole batch is compared, as
-- before), and a batch whose first event is new but a later one's id is stored fails the insert on
-- the event_id unique constraint (23505, which the TypeScript API reports as DuplicateEventError).
create or replace function {{schema}}.append_events(
  p_stream uuid,
  p_events jsonb,
  p_expected_version text default 'any'
) returns table (event_id uuid, version bigint, "position" bigint)
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_count int;
  v_event jsonb;
  v_bad_index int;
  v_bad jsonb;
  v_field text;
  v_problem text;
  v_ids uuid[];
  v_expected bigint;
  v_current bigint;
  v_state text;
  v_stored int;
  v_stored_here int;
begin
  if p_stream is null then
    raise exception 'Invalid stream: a stream id (uuid) is required'
      using errcode = 'PE003', detail = json_build_object('field', 'stream')::text;
  end if;
  if jsonb_typeof(p_events) is distinct from 'array' or jsonb_array_length(p_events) = 0 then
    raise exception 'Invalid events: expected a non-empty JSON array of events (Stream: %)', p_stream
      using errcode = 'PE003', detail = json_build_object('stream', p_stream, 'field', 'events')::text,
            hint = 'Pass [{"type": "...", "body": {...}}].';
  end if;

  -- One small valid event (most appends) is checked by plpgsql expressions, which need no query;
  -- anything else by the query, which also says what is wrong.
  v_event := p_events -> 0;
  if jsonb_array_length(p_events) = 1
     and pg_column_size(v_event) < 8000
     and event_is_well_formed(v_event) is true then
    v_count := 1;
    v_ids := case when v_event ? 'id' then array[(v_event ->> 'id')::uuid] end;
  else
    select count(*),
           min(e.ord) filter (where not e.valid),
           array_agg((e.value ->> 'id')::uuid order by e.ord) filter (where e.valid and e.value ? 'id')
      into v_count, v_bad_index, v_ids
      from (select x.value, x.ord,
                   (event_is_well_formed(x.value)
                   and (pg_column_size(x.value) < 8000
                        or not (json_limit_broken(x.value -> 'body', 1048576)
                                or coalesce(json_limit_broken(x.value -> 'metadata', 65536), false))))
                   is true as valid
              from jsonb_array_elements(p_events) with ordinality x(value, ord)) e;
  end if;
  if v_count > 10000 then
    raise exception 'Invalid events: a batch holds at most 10000 events, not % (Stream: %)', v_count, p_stream
      using errcode = 'PE003',
            detail = json_build_object('stream', p_stream, 'field', 'events', 'limit', 10000, 'value', v_count)::text,
            hint = 'Split the batch, or use bulk import (import_events).';
  end if;
  if v_bad_index is not null then
    v_bad := p_events -> (v_bad_index - 1);
    select f.field, f.problem into v_field, v_problem
      from (values
        (1, null, 'an event must be a JSON object', jsonb_typeof(v_bad) is distinct from 'object'),
        (2, 'type', 'type must be a string', jsonb_typeof(v_bad -> 'type') is distinct from 'string'),
        (3, 'body', 'body must be a JSON object', jsonb_typeof(v_bad -> 'body') is distinct from 'object'),
        (4, 'metadata', 'metadata must be a JSON object',
         v_bad ? 'metadata' and jsonb_typeof(v_bad -> 'metadata') is distinct from 'object'),
        (5, 'id', 'id must be a uuid',
         v_bad ? 'id' and (jsonb_typeof(v_bad -> 'id') is distinct from 'string'
                           or (v_bad ->> 'id') !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$')),
        (6, 'type_version', 'type_version must be a positive integer',
         v_bad ? 'type_version' and (jsonb_typeof(v_bad -> 'type_version') is distinct from 'number'
                                     or (v_bad ->> 'type_version') !~ '^[1-9][0-9]{0,8}$'))
      ) f(n, field, problem, applies)
     where f.applies
     order by f.n
     limit 1;
    if v_problem is not null then
      raise exception 'Invalid event at index %: % (Stream: %)', v_bad_index - 1, v_problem, p_stream
        using errcode = 'PE003',
              detail = json_build_object('stream', p_stream, 'index', v_bad_index - 1, 'field', v_field)::text,
              hint = 'Each event is {"type": "...", "body": {...}, "metadata"?: {...}, "id"?: "<uuid>"}.';
    end if;
    -- Else a limit, of the body or of the metadata.
    perform raise_json_limit('body', v_bad -> 'body', 1048576, format(' at index %s', v_bad_index - 1),
                             format('Stream: %s', p_stream), jsonb_build_object('stream', p_stream, 'index', v_bad_index - 1));
    perform raise_json_limit('metadata', v_bad -> 'metadata', 65536, format(' at index %s', v_bad_index - 1),
                             format('Stream: %s', p_stream), jsonb_build_object('stream', p_stream, 'index', v_bad_index - 1));
  end if;

  v_expected := case
    when p_expected_version is null or p_expected_version = 'any' then null
    when p_expected_version = 'no_stream' then 0
    when p_expected_version = 'stream_exists' then -1
    when p_expected_version ~ '^[0-9]{1,18}$' then p_expected_version::bigint
  end;
  if v_expected is null and p_expected_version is not null and p_expected_version <> 'any' then
    raise exception 'Invalid expected version: % (Stream: %)', p_expected_version, p_stream
      using errcode = 'PE003', detail = json_build_object('stream', p_stream, 'field', 'expected_version')::text,
            hint = 'Use ''any'', ''no_stream'', ''stream_exists'' or a non-negative integer.';
  end if;

  if v_ids is null then
    return query
      with reserved as (
        insert into streams as s (stream, version) values (p_stream, v_count)
        on conflict (stream) do update set version = s.version + v_count
        returning s.version - v_count as current,
                  -- An archived or tombstoned stream is refused before its expected version is checked.
                  case when s.state = 'live' then check_expected_version(p_stream, p_expected_version, v_expected, s.version - v_count)
                       else raise_stream_closed(p_stream, s.state) end as expected
      ), inserted as (
        insert into events (uuid, version, type, body, metadata, event_id, type_version)
        select p_stream, r.current + e.ord, e.value ->> 'type', e.value -> 'body',
               coalesce(e.value -> 'metadata', '{}'::jsonb), uuid_v7(), (e.value ->> 'type_version')::int
          from reserved r, jsonb_array_elements(p_events) with ordinality e(value, ord)
         where r.expected
         order by e.ord
        returning events.event_id, events.version, events.id
      )
      select i.event_id, i.version, i.id from inserted i order by i.version;
    return;
  end if;

  if cardinality(v_ids) > 1 and (select count(distinct i) from unnest(v_ids) i) <> cardinality(v_ids) then
    raise exception 'Duplicate event id within one batch (Stream: %)', p_stream
      using errcode = 'PE004', detail = json_build_object('stream', p_stream)::text,
            hint = 'Give every event of a batch its own id.';
  end if;
  insert into streams as s (stream, version) values (p_stream, v_count)
  on conflict (stream) do update set version = s.version + v_count
  returning s.version - v_count, s.state into v_current, v_state;
  if exists (select 1 from events ev where ev.event_id = v_ids[1]) then
    select count(*), count(*) filter (where ev.uuid = p_stream)
      into v_stored, v_stored_here
      from events ev where ev.event_id = any(v_ids);
    if v_stored = v_count and v_stored_here = v_count then
      update streams s set version = v_current where s.stream = p_stream;
      return query
        select ev.event_id, ev.version, ev.id from events ev where ev.event_id = any(v_ids) order by ev.version;
      return;
    end if;
    raise exception 'Event ids already stored: % of % events in this batch were appended before (Stream: %)',
      v_stored, v_count, p_stream
      using errcode = 'PE004',
            detail = json_build_object('stream', p_stream, 'stored', v_stored, 'batch', v_count)::text,
            hint = 'Retry a batch exactly as it was first sent, or give new events new ids.';
  end if;
  if v_state <> 'live' then
    perform raise_stream_closed(p_stream, v_state);
  end if;
  perform check_expected_version(p_stream, p_expected_version, v_expected, v_current);

  return query
    with inserted as (
      insert into events (uuid, version, type, body, metadata, event_id, type_version)
      select p_stream, v_current + e.ord, e.value ->> 'type', e.value -> 'body',
             coalesce(e.value -> 'metadata', '{}'::jsonb), coalesce((e.value ->> 'id')::uuid, uuid_v7()),
             (e.value ->> 'type_version')::int
        from jsonb_array_elements(p_events) with ordinality e(value, ord)
       order by e.ord
      returning events.event_id, events.version, events.id
    )
    select i.event_id, i.version, i.id from inserted i order by i.version;
end;
$$;

-- True when a stream at version p_current meets the expected version (p_expected: null for any,
-- 0 for no stream, -1 for an existing stream, else the exact version); raises PE001 otherwise.
create or replace function {{schema}}.check_expected_version(p_stream uuid, p_expected_version text, p_expected bigint, p_current bigint)
returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  if p_expected is not null and ((p_expected = -1 and p_current = 0) or (p_expected >= 0 and p_expected <> p_current)) then
    raise exception 'Wrong expected version: % (Stream: %, Stream Version: %)', p_expected_version, p_stream, p_current
      using errcode = 'PE001',
            detail = json_build_object('stream', p_stream, 'expected', p_expected_version, 'actual', p_current)::text,
            hint = 'Read the stream again, decide again, and append with its current version.';
  end if;
  return true;
end;
$$;
