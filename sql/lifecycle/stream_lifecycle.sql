-- The stream lifecycle: archive_stream, unarchive_stream and tombstone_stream change the state on
-- a stream's streams row (see migration 0013), which every append reads under the row's lock, so a
-- refused append costs live streams nothing. Each change is recorded in stream_lifecycle (who,
-- when, why). A call that finds the stream already in the asked state changes and records nothing.
-- archive_stream/unarchive_stream are the owner's and operators' (grant_operator); tombstone_stream
-- is the owner's only.

-- Locks a stream's row for the rest of the transaction and returns it; an unknown stream is refused.
create or replace function {{schema}}.lock_stream_for_lifecycle(p_stream uuid, p_reason text) returns {{schema}}.streams
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_stream streams;
begin
  if p_stream is null then
    raise exception 'Invalid stream: it is null'
      using errcode = 'PE025', detail = json_build_object('field', 'stream')::text;
  end if;
  if p_reason is null or btrim(p_reason) = '' then
    raise exception 'A reason is required (Stream: %)', p_stream
      using errcode = 'PE025', detail = json_build_object('field', 'reason', 'stream', p_stream)::text,
            hint = 'Say why, e.g. reason => ''customer closed the account''; it is kept in stream_lifecycle.';
  end if;
  select * into v_stream from streams s where s.stream = p_stream for update;
  if not found then
    raise exception 'Unknown stream: % has no events', p_stream
      using errcode = 'PE025', detail = json_build_object('field', 'stream', 'stream', p_stream)::text,
            hint = 'Check the stream id (pgevents streams show <stream>).';
  end if;
  return v_stream;
end;
$$;

create or replace function {{schema}}.record_stream_lifecycle(
  p_stream {{schema}}.streams, p_operation text, p_reason text,
  p_before_version bigint default null, p_deleted_events bigint default null
) returns bigint
language sql
security definer
set search_path = {{schema}}, pg_temp
as $$
  insert into stream_lifecycle (stream, operation, reason, before_version, deleted_events, stream_version, done_by)
  values ((p_stream).stream, p_operation, btrim(p_reason), p_before_version, p_deleted_events, (p_stream).version, session_user)
  returning id;
$$;

-- Moves a live stream to archived or an archived one back to live (p_to), audited as p_operation;
-- a stream already there is left as it is, a tombstoned one refused (PE030). Returns p_to.
create or replace function {{schema}}.set_stream_archived(p_stream uuid, p_reason text, p_to text, p_operation text) returns text
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_stream streams := lock_stream_for_lifecycle(p_stream, p_reason);
  v_audit bigint;
begin
  if v_stream.state = 'tombstoned' then
    perform raise_stream_closed(p_stream, v_stream.state, p_operation || 'd');
  elsif v_stream.state <> p_to then
    update streams set state = p_to where stream = p_stream;
    v_audit := record_stream_lifecycle(v_stream, p_operation, p_reason);
    -- The stream's events are marked (in a log with an archive partition, partition_events(n,
    -- p_archive => true), they move to it, out of the live part's indexes, or back): an UPDATE of the
    -- column archived, which the immutability trigger lets through for this audit record only.
    perform set_config('pgevents.archive_{{schema}}', v_audit::text, true);
    update events e set archived = (p_to = 'archived') where e.uuid = p_stream and e.archived <> (p_to = 'archived');
    perform set_config('pgevents.archive_{{schema}}', '', true);
  end if;
  return p_to;
end;
$$;

-- Archives a stream: its events stay in every full replay, rebuild and subscription (in a log with
-- an archive partition they move to it, out of the live part's indexes), but read_stream returns them only with p_include_archived, and appends are
-- refused (PE031) until unarchive_stream. Returns the stream's state.
create or replace function {{schema}}.archive_stream(p_stream uuid, p_reason text) returns text
language sql
security definer
set search_path = {{schema}}, pg_temp
as $$ select set_stream_archived(p_stream, p_reason, 'archived', 'archive') $$;

-- Makes an archived stream live again. Returns the stream's state.
create or replace function {{schema}}.unarchive_stream(p_stream uuid, p_reason text) returns text
language sql
security definer
set search_path = {{schema}}, pg_temp
as $$ select set_stream_archived(p_stream, p_reason, 'live', 'unarchive') $$;

-- Tombstones a stream: no append, by any path, is ever accepted again (PE030), and the id is never
-- reused (its streams row stays). Its events stay readable. A stream with no events can be
-- tombstoned too: that reserves the id. Returns the stream's state.
create or replace function {{schema}}.tombstone_stream(p_stream uuid, p_reason text) returns text
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_stream streams;
begin
  if p_stream is not null then
    insert into streams (stream, version) values (p_stream, 0) on conflict (stream) do nothing;
  end if;
  v_stream := lock_stream_for_lifecycle(p_stream, p_reason);
  if v_stream.state <> 'tombstoned' then
    update streams set state = 'tombstoned' where stream = p_stream;
    perform record_stream_lifecycle(v_stream, 'tombstone', p_reason);
  end if;
  return 'tombstoned';
end;
$$;

-- The state of a stream: its state, version (of its last event), how many events it holds and the
-- lowest version it still holds (above 1 after a truncate-before), and the last lifecycle change.
-- No row for a stream that has none.
create or replace function {{schema}}.stream_state(p_stream uuid)
returns table (stream uuid, state text, version bigint, events bigint, first_version bigint,
               changed_at timestamptz, changed_by name, change text, reason text)
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select s.stream, s.state, s.version, c.events, c.first_version, l.done_at, l.done_by, l.operation, l.reason
    from streams s
    cross join lateral (select count(*) as events, min(e.version) as first_version from events e where e.uuid = s.stream) c
    left join lateral (select * from stream_lifecycle l where l.stream = s.stream order by l.id desc limit 1) l on true
   where s.stream = p_stream;
$$;
