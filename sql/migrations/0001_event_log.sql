-- pgevents 0001: the event log.
-- {{schema}} is replaced by the configured schema name (a plain lowercase identifier).
-- Error SQLSTATEs raised by pgevents use the class PE (see docs/errors.md).

create schema if not exists {{schema}};

-- One row per stream: the stream's current version. Appends lock this row, which serialises
-- writers of the same stream and keeps versions gapless; writers of different streams never wait
-- for each other.
create table {{schema}}.streams (
  stream uuid primary key,
  version bigint not null check (version >= 0)
);

create table {{schema}}.events (
  id bigint generated always as identity primary key,
  uuid uuid not null,
  version bigint not null,
  type text not null,
  body jsonb not null,
  metadata jsonb not null default '{}',
  event_id uuid not null default gen_random_uuid(),
  inserted_at timestamptz not null default statement_timestamp(),
  transaction_id xid8 not null default pg_current_xact_id(),
  constraint events_stream_version_unique unique (uuid, version),
  constraint events_event_id_unique unique (event_id),
  constraint events_version_positive check (version >= 1),
  -- Not `{0,199}`: bounded repetition makes PostgreSQL's regex engine ~25 times slower here.
  constraint events_type_valid check (type ~ '^[A-Za-z_][A-Za-z0-9_.:/-]*$' and char_length(type) <= 200),
  constraint events_body_is_object check (jsonb_typeof(body) = 'object'),
  constraint events_body_size check (pg_column_size(body) <= 1048576),
  constraint events_metadata_is_object check (jsonb_typeof(metadata) = 'object'),
  constraint events_metadata_size check (pg_column_size(metadata) <= 65536)
);

comment on table {{schema}}.events is 'The append-only event log. id is the store-wide position, (uuid, version) the place of the event in its stream.';

create index events_type_idx on {{schema}}.events (type, id);
create index events_transaction_order_idx on {{schema}}.events (transaction_id, id);

-- Plain `insert into events (type, uuid, body)` arrives without a version: take the stream's
-- next one under the stream row lock, and take the position only once that lock is held, so that
-- within a stream position order always equals version order. The event-log triggers and
-- append_events run with the owner's rights (search_path pinned): writers may insert events but
-- never touch streams directly.
create function {{schema}}.tg_events__assign_version() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
begin
  -- A row whose event id is already stored fails, or is skipped by `on conflict do nothing`: it
  -- must not take a version from the stream, or the stream would be left with a gap.
  if exists (select 1 from {{schema}}.events e where e.event_id = new.event_id) then
    select coalesce(max(s.version), 0) + 1 into new.version from {{schema}}.streams s where s.stream = new.uuid;
  else
    insert into {{schema}}.streams as s (stream, version)
    values (new.uuid, 1)
    on conflict (stream) do update set version = s.version + 1
    returning s.version into new.version;
  end if;
  new.id := nextval('{{schema}}.events_id_seq');
  return new;
end;
$$;

create trigger events_assign_version
before insert on {{schema}}.events
for each row
when (new.version is null)
execute function {{schema}}.tg_events__assign_version();

-- Rows that arrive with an explicit version (append_events, or a client that supplies one) must
-- not run ahead of the stream's recorded version; together with the unique (uuid, version)
-- constraint this keeps every stream gapless. The writing transaction id must be the real one,
-- since gap-safe readers rely on it. A row inserted with an explicit position (INSERT …
-- OVERRIDING SYSTEM VALUE) must not run ahead of the sequence (a later append would collide with
-- it) nor come before the position of its stream's previous version (within a stream, position
-- order is version order).
create function {{schema}}.tg_events__check_insert() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_bad record;
  v_sequence_last bigint;
begin
  select n.uuid, n.version, s.version as stream_version, n.transaction_id
    into v_bad
    from new_events n
    left join {{schema}}.streams s on s.stream = n.uuid
   where s.stream is null
      or n.version > s.version
      or n.transaction_id <> pg_current_xact_id()
   limit 1;
  if found then
    if v_bad.transaction_id <> pg_current_xact_id() then
      raise exception 'Events cannot be inserted with a transaction_id other than the writing transaction''s own'
        using errcode = 'PE003',
              detail = json_build_object('stream', v_bad.uuid, 'field', 'transaction_id')::text,
              hint = 'Leave transaction_id out of the insert; it defaults to pg_current_xact_id().';
    end if;
    if v_bad.version = coalesce(v_bad.stream_version, 0) + 1 then
      -- The right next version, but only append_events may state it: a plain INSERT that names a
      -- version would leave the stream's recorded version behind.
      raise exception 'A plain INSERT cannot state the version (Stream: %, Version: %)', v_bad.uuid, v_bad.version
        using errcode = 'PE003',
              detail = json_build_object('stream', v_bad.uuid, 'field', 'version')::text,
              hint = 'Leave version out and the stream''s next version is taken, or use append_events(stream, events, expected_version) to insert under an expected version.';
    end if;
    raise exception 'Wrong expected version: % (Stream: %, Stream Version: %)',
      v_bad.version - 1, v_bad.uuid, coalesce(v_bad.stream_version, 0)
      using errcode = 'PE001',
            detail = json_build_object('stream', v_bad.uuid, 'expected', v_bad.version - 1,
                                       'actual', coalesce(v_bad.stream_version, 0))::text,
            hint = 'Leave version out of the insert to take the stream''s next version, or use append_events with an expected version.';
  end if;

  -- Within the statement, each stream's positions must rise with its versions; only the first new
  -- version of a stream is compared with the stored previous one (one index probe per stream).
  select last_value into v_sequence_last from {{schema}}.events_id_seq;
  select b.uuid, b.version into v_bad
    from (select n.uuid, n.version, n.id,
                 lag(n.id) over (partition by n.uuid order by n.version) as previous_id
            from new_events n) b
   where b.id > v_sequence_last
      or b.id <= coalesce(b.previous_id,
                          (select e.id from {{schema}}.events e
                            where e.uuid = b.uuid and e.version = b.version - 1), 0)
   limit 1;
  if found then
    raise exception 'Events cannot be inserted with an explicit position (Stream: %, Version: %)', v_bad.uuid, v_bad.version
      using errcode = 'PE003',
            detail = json_build_object('stream', v_bad.uuid, 'field', 'id')::text,
            hint = 'Leave id out of the insert; positions come from the store''s sequence.';
  end if;
  return null;
end;
$$;

create trigger events_check_insert
after insert on {{schema}}.events
referencing new table as new_events
for each statement
execute function {{schema}}.tg_events__check_insert();

-- History is immutable. A statement-level trigger fails even when no row matches, so an UPDATE
-- or DELETE never "succeeds" with 0 rows; TRUNCATE is covered too.
create function {{schema}}.tg_events__reject_change() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Events are immutable: % on %.events is not allowed', tg_op, tg_table_schema
    using errcode = 'PE002',
          detail = json_build_object('operation', tg_op)::text,
          hint = 'Append a new event that corrects the state instead, then replay the projections that need it.';
end;
$$;

create trigger events_immutable
before update or delete on {{schema}}.events
for each statement
execute function {{schema}}.tg_events__reject_change();

create trigger events_immutable_truncate
before truncate on {{schema}}.events
for each statement
execute function {{schema}}.tg_events__reject_change();

-- Append a batch of events to one stream, atomically, under an expected version.
-- p_events: a JSON array of {"type": text, "body": object, "metadata"?: object, "id"?: uuid}.
-- p_expected_version: 'any', 'no_stream', 'stream_exists', or the stream's exact current version.
-- Idempotency: when every event of the batch carries an id that is already stored in this stream,
-- nothing is written and the stored versions and positions are returned (a retry after a lost
-- connection), whatever the expected version.
create function {{schema}}.append_events(
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
  v_current bigint;
  v_expected bigint;
  v_bad record;
  v_ids uuid[];
  v_stored int;
  v_stored_here int;
begin
  if p_stream is null then
    raise exception 'Invalid stream: a stream id (uuid) is required'
      using errcode = 'PE003', detail = json_build_object('field', 'stream')::text;
  end if;
  if p_events is null or jsonb_typeof(p_events) <> 'array' or jsonb_array_length(p_events) = 0 then
    raise exception 'Invalid events: expected a non-empty JSON array of events (Stream: %)', p_stream
      using errcode = 'PE003', detail = json_build_object('stream', p_stream, 'field', 'events')::text,
            hint = 'Pass [{"type": "...", "body": {...}}].';
  end if;
  v_count := jsonb_array_length(p_events);

  select e.ord, e.value into v_bad
    from jsonb_array_elements(p_events) with ordinality e(value, ord)
   where jsonb_typeof(e.value) is distinct from 'object'
      or jsonb_typeof(e.value -> 'type') is distinct from 'string'
      or jsonb_typeof(e.value -> 'body') is distinct from 'object'
      or (e.value ? 'metadata' and jsonb_typeof(e.value -> 'metadata') is distinct from 'object')
      or (e.value ? 'id' and (jsonb_typeof(e.value -> 'id') is distinct from 'string'
          or (e.value ->> 'id') !~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$'))
   order by e.ord
   limit 1;
  if found then
    raise exception 'Invalid event at index %: % (Stream: %)', v_bad.ord - 1,
      case
        when jsonb_typeof(v_bad.value) is distinct from 'object' then 'an event must be a JSON object'
        when jsonb_typeof(v_bad.value -> 'type') is distinct from 'string' then 'type must be a string'
        when jsonb_typeof(v_bad.value -> 'body') is distinct from 'object' then 'body must be a JSON object'
        when v_bad.value ? 'metadata' and jsonb_typeof(v_bad.value -> 'metadata') is distinct from 'object' then 'metadata must be a JSON object'
        else 'id must be a uuid'
      end, p_stream
      using errcode = 'PE003',
            detail = json_build_object('stream', p_stream, 'index', v_bad.ord - 1)::text,
            hint = 'Each event is {"type": "...", "body": {...}, "metadata"?: {...}, "id"?: "<uuid>"}.';
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

  -- One statement locks the stream's row (creating it for a new stream), reserves the batch's
  -- versions and returns the version before them. Everything after it sees every earlier
  -- committed append of the stream; any refusal below raises, which undoes the reservation.
  insert into streams as s (stream, version) values (p_stream, v_count)
  on conflict (stream) do update set version = s.version + v_count
  returning s.version - v_count into v_current;

  select array_agg((e.value ->> 'id')::uuid) into v_ids
    from jsonb_array_elements(p_events) e(value)
   where e.value ? 'id';
  if v_ids is not null then
    if (select count(distinct i) from unnest(v_ids) i) <> cardinality(v_ids) then
      raise exception 'Duplicate event id within one batch (Stream: %)', p_stream
        using errcode = 'PE004', detail = json_build_object('stream', p_stream)::text,
              hint = 'Give every event of a batch its own id.';
    end if;
    select count(*), count(*) filter (where ev.uuid = p_stream)
      into v_stored, v_stored_here
      from events ev where ev.event_id = any(v_ids);
    if v_stored > 0 then
      if v_stored = v_count and v_stored_here = v_count then
        update streams s set version = v_current where s.stream = p_stream;
        return query
          select ev.event_id, ev.version, ev.id
            from events ev
           where ev.event_id = any(v_ids)
           order by ev.version;
        return;
      end if;
      raise exception 'Event ids already stored: % of % events in this batch were appended before (Stream: %)',
        v_stored, v_count, p_stream
        using errcode = 'PE004',
              detail = json_build_object('stream', p_stream, 'stored', v_stored, 'batch', v_count)::text,
              hint = 'Retry a batch exactly as it was first sent, or give new events new ids.';
    end if;
  end if;

  if v_expected is not null and (
       (v_expected = -1 and v_current = 0) or (v_expected >= 0 and v_expected <> v_current)) then
    raise exception 'Wrong expected version: % (Stream: %, Stream Version: %)',
      p_expected_version, p_stream, v_current
      using errcode = 'PE001',
            detail = json_build_object('stream', p_stream, 'expected', p_expected_version, 'actual', v_current)::text,
            hint = 'Read the stream again, decide again, and append with its current version.';
  end if;

  return query
    with inserted as (
      insert into events (uuid, version, type, body, metadata, event_id)
      select p_stream,
             v_current + e.ord,
             e.value ->> 'type',
             e.value -> 'body',
             coalesce(e.value -> 'metadata', '{}'::jsonb),
             coalesce((e.value ->> 'id')::uuid, gen_random_uuid())
        from jsonb_array_elements(p_events) with ordinality e(value, ord)
       order by e.ord
      returning events.event_id, events.version, events.id
    )
    select i.event_id, i.version, i.id from inserted i order by i.version;
end;
$$;

-- Events of one stream in version order.
create function {{schema}}.read_stream(
  p_stream uuid,
  p_from_version bigint default 1,
  p_limit int default 1000
) returns setof {{schema}}.events
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select * from events
   where uuid = p_stream and version >= p_from_version
   order by version
   limit p_limit;
$$;

-- Gap-safe read of the whole log: only events whose writing transaction has finished, in the
-- stable total order (transaction_id, id). An event can never later appear before a cursor that
-- this function has handed out, because every transaction below pg_snapshot_xmin has ended.
create function {{schema}}.read_all(
  p_after_transaction_id xid8 default '0',
  p_after_position bigint default 0,
  p_limit int default 1000,
  p_types text[] default null
) returns setof {{schema}}.events
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select * from events
   where (transaction_id, id) > (p_after_transaction_id, p_after_position)
     and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
     and (p_types is null or type = any(p_types))
   order by transaction_id, id
   limit p_limit;
$$;
