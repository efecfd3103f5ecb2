-- After each INSERT/COPY statement: the rules the rows must keep, the streams' recorded versions,
-- and the wake-up for listeners that sleep (sql/subscriptions/listeners.sql). Every row's body and metadata keep the limits of json_limits.sql
-- (only a value of 8,000 bytes or more, or a compressed one, is measured). Per stream of the statement:
-- * the stream is live: an archived or tombstoned one takes no event, by any path (its state rides
--   on the streams row read here anyway, see sql/lifecycle/), and a version deleted by a
--   truncate-before is never stored again;
-- * the writing transaction is the real one (gap-safe readers rely on it);
-- * versions above the stream's recorded one continue it without a gap (rows at or below it were
--   reserved by append_events or import_events, and the unique constraint keeps them single);
-- * positions rise with versions and come from the sequence (an explicit position, which only the
--   owner may give, must not run ahead of it nor before the stream's previous event).
-- Most statements write one stream: that case is checked with one query over the new rows (each
-- query of a trigger costs more than the checks themselves), the others per stream.
create or replace function {{schema}}.tg_events__after_insert() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v record;
  v_bad record;
begin
  if coalesce(current_setting('pgevents.archive_{{schema}}', true), '') <> '' then
    raise exception 'No event can be appended while a stream''s events move between the live and the archived part of %.events', tg_table_schema
      using errcode = 'PE002', hint = 'Append after archive_stream or unarchive_stream returns (the setting pgevents.archive_<schema> is theirs).';
  end if;
  perform set_config('pgevents.assign_{{schema}}', '', true);
  select a.*,
         -- null until the sequence is first used: then every explicit position is ahead of it.
         a.last_id > coalesce(pg_sequence_last_value('{{schema}}.events_id_seq'), 0) as ahead_of_sequence,
         s.version as recorded,
         s.state as stream_state,
         s.truncated_before,
         case when a.first_stream = a.last_stream and a.first_version > 1 then
           (select e.id from events e where e.uuid = a.first_stream::uuid and e.version = a.first_version - 1) end as previous_id,
         -- A REPEATABLE READ or SERIALIZABLE writer would read the listeners as they were when its
         -- transaction began, perhaps before the insert's lock was held: it notifies all listeners.
         exists (select 1 from listeners l
                  where not l.awake or current_setting('transaction_isolation') <> 'read committed') as listening
    into v
    from (select min(n.uuid::text) as first_stream, max(n.uuid::text) as last_stream,
                 min(n.version) as first_version, max(n.version) as last_version, count(*) as events,
                 min(n.id) as first_id, max(n.id) as last_id,
                 bool_and(n.transaction_id = pg_current_xact_id()) as own_transaction,
                 bool_or(n.archived) as archived_rows,
                 bool_and(pg_column_size(n.body) < 8000 and pg_column_compression(n.body) is null
                          and pg_column_size(n.metadata) < 8000 and pg_column_compression(n.metadata) is null) as small
            from new_events n) a
    -- The single stream's row: its recorded version and its state (archived and tombstoned
    -- streams take no appends). Every path that appends has locked the row before (the version
    -- trigger, append_events, lock_streams), but for a plain INSERT with explicit versions, which
    -- locks it below.
    left join lateral (select s.version, s.state, s.truncated_before from streams s
                        where a.first_stream = a.last_stream and s.stream = a.first_stream::uuid) s on true;
  if v.events = 0 then
    return null;
  end if;
  if v.archived_rows then
    raise exception 'An event is appended live: archived is set by archive_stream only (Stream: %)', v.first_stream
      using errcode = 'PE003', detail = json_build_object('stream', v.first_stream, 'field', 'archived')::text,
            hint = 'Leave archived out of the INSERT; archive the stream with archive_stream.';
  end if;
  if v.stream_state <> 'live' then
    perform raise_stream_closed(v.first_stream::uuid, v.stream_state);
  end if;
  if v.first_version < v.truncated_before then
    perform raise_truncated_version(v.first_stream::uuid, v.first_version, v.truncated_before);
  end if;

  if not v.small then
    select n.uuid, n.version, l.field, l.value, l.max_bytes
      into v_bad
      from new_events n,
           lateral (values ('body', n.body, 1048576, 1), ('metadata', n.metadata, 65536, 2)) l(field, value, max_bytes, ordinal)
     where not (pg_column_size(l.value) < 8000 and pg_column_compression(l.value) is null)
       and json_limit_broken(l.value, l.max_bytes)
     order by n.id, l.ordinal
     limit 1;
    if found then
      perform raise_json_limit(v_bad.field, v_bad.value, v_bad.max_bytes, '',
                               format('Stream: %s, Version: %s', v_bad.uuid, v_bad.version),
                               jsonb_build_object('stream', v_bad.uuid, 'version', v_bad.version));
    end if;
  end if;

  if v.first_stream = v.last_stream and not v.ahead_of_sequence and v.own_transaction then
    if v.last_version > coalesce(v.recorded, 0) then
      if v.first_version <> coalesce(v.recorded, 0) + 1 or v.events <> v.last_version - coalesce(v.recorded, 0) then
        perform raise_version_gap(v.first_stream::uuid, v.first_version, coalesce(v.recorded, 0));
      end if;
      insert into streams as s (stream, version) values (v.first_stream::uuid, v.last_version)
      on conflict (stream) do update set version = excluded.version
       where s.version < excluded.version and s.state = 'live';
      if not found then
        -- The row was archived or tombstoned after it was read above (or a gap the checks below report).
        perform raise_stream_closed(s.stream, s.state) from streams s
          where s.stream = v.first_stream::uuid and s.state <> 'live';
      end if;
    end if;
    if v.first_id <= coalesce(v.previous_id, 0)
       or (v.events > 1 and exists (
             select from (select n.id, lag(n.id) over (order by n.version) as previous from new_events n) o
              where o.id <= o.previous)) then
      perform raise_explicit_position(v.first_stream::uuid, v.first_version);
    end if;
  else
    with per_event as (
      select n.uuid, n.version, n.id, n.transaction_id,
             lag(n.id) over (partition by n.uuid order by n.version) as previous_id
        from new_events n
    ), per_stream as (
      select p.uuid, min(p.version) as first_version, max(p.version) as last_version, count(*) as events,
             min(p.id) filter (where p.previous_id is null) as first_id, max(p.id) as last_id,
             bool_and(p.previous_id is null or p.id > p.previous_id) as ordered,
             bool_and(p.transaction_id = pg_current_xact_id()) as own_transaction
        from per_event p
       group by p.uuid
    ), checked as (
      select b.*, coalesce(s.version, 0) as recorded
        from per_stream b left join streams s on s.stream = b.uuid
    ), recorded as (
      insert into streams as s (stream, version)
      select c.uuid, c.last_version from checked c where c.last_version > c.recorded
      on conflict (stream) do update set version = excluded.version where s.version < excluded.version
    )
    select c.uuid, c.first_version, c.recorded, c.own_transaction,
           c.last_version > c.recorded
             and (c.first_version <> c.recorded + 1 or c.events <> c.last_version - c.recorded) as gap
      into v_bad
      from checked c
     where not c.own_transaction
        or not c.ordered
        or (c.last_version > c.recorded
            and (c.first_version <> c.recorded + 1 or c.events <> c.last_version - c.recorded))
        or c.last_id > coalesce(pg_sequence_last_value('{{schema}}.events_id_seq'), 0)
        or (c.first_version > 1 and c.first_id <= coalesce(
              (select e.id from events e where e.uuid = c.uuid and e.version = c.first_version - 1), 0))
     limit 1;
    if found then
      if not v_bad.own_transaction then
        perform raise_foreign_transaction(v_bad.uuid);
      elsif v_bad.gap then
        perform raise_version_gap(v_bad.uuid, v_bad.first_version, v_bad.recorded);
      end if;
      perform raise_explicit_position(v_bad.uuid, v_bad.first_version);
    end if;
    -- After the statement above locked the rows whose version rises (lock_streams and the version
    -- trigger locked the others), so that this reads the states as they are now.
    select s.stream, s.state, n.first_version, s.truncated_before into v_bad
      from (select n.uuid, min(n.version) as first_version from new_events n group by n.uuid) n
      join streams s on s.stream = n.uuid
     where s.state <> 'live' or n.first_version < s.truncated_before
     limit 1;
    if found then
      if v_bad.state <> 'live' then
        perform raise_stream_closed(v_bad.stream, v_bad.state);
      end if;
      perform raise_truncated_version(v_bad.stream, v_bad.first_version, v_bad.truncated_before);
    end if;
  end if;
  if not v.own_transaction then
    perform raise_foreign_transaction(v.first_stream::uuid);
  end if;
  if v.ahead_of_sequence then
    perform raise_explicit_position(v.first_stream::uuid, v.first_version);
  end if;

  if v.listening then
    perform pg_notify('pgevents_{{schema}}', 'events');
  end if;
  return null;
end;
$$;

create or replace function {{schema}}.raise_foreign_transaction(p_stream uuid) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Events cannot be inserted with a transaction_id other than the writing transaction''s own'
    using errcode = 'PE003',
          detail = json_build_object('stream', p_stream, 'field', 'transaction_id')::text,
          hint = 'Leave transaction_id out of the insert; it defaults to pg_current_xact_id().';
end;
$$;

create or replace function {{schema}}.raise_version_gap(p_stream uuid, p_first_version bigint, p_recorded bigint) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Wrong expected version: % (Stream: %, Stream Version: %)', p_first_version - 1, p_stream, p_recorded
    using errcode = 'PE001',
          detail = json_build_object('stream', p_stream, 'expected', p_first_version - 1, 'actual', p_recorded)::text,
          hint = 'Leave version out of the insert to take the stream''s next version, or state the version right after the stream''s current one.';
end;
$$;

create or replace function {{schema}}.raise_explicit_position(p_stream uuid, p_version bigint) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Events cannot be inserted with an explicit position (Stream: %, Version: %)', p_stream, p_version
    using errcode = 'PE003',
          detail = json_build_object('stream', p_stream, 'field', 'id')::text,
          hint = 'Leave id out of the insert; positions come from the store''s sequence.';
end;
$$;

-- Appends to an archived or tombstoned stream are refused, by every path (PE031, PE030).
create or replace function {{schema}}.raise_stream_closed(p_stream uuid, p_state text, p_done text default 'appended to') returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  if p_state = 'tombstoned' then
    raise exception 'Stream % is tombstoned: it cannot be % again', p_stream, p_done
      using errcode = 'PE030', detail = json_build_object('stream', p_stream, 'state', p_state)::text,
            hint = 'A tombstoned stream is closed for ever and its id is not reused: write to a new stream.';
  end if;
  raise exception 'Stream % is archived: it cannot be % until it is unarchived', p_stream, p_done
    using errcode = 'PE031', detail = json_build_object('stream', p_stream, 'state', p_state)::text,
          hint = format('Unarchive it first: pgevents streams unarchive %s --reason "…" (SQL: select {{schema}}.unarchive_stream(%L, ''…'')).', p_stream, p_stream);
end;
$$;

-- A version below a stream's truncate-before point was deleted: it is never stored again.
create or replace function {{schema}}.raise_truncated_version(p_stream uuid, p_version bigint, p_truncated_before bigint) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Version % of stream % was deleted by a truncate-before (below version %): versions are never reused', p_version, p_stream, p_truncated_before
    using errcode = 'PE003',
          detail = json_build_object('stream', p_stream, 'field', 'version')::text,
          hint = 'Leave version out of the insert to take the stream''s next version.';
end;
$$;

-- Named to fire before the projections' triggers (project_*): a refused statement projects nothing.
create or replace trigger events_after_insert
after insert on {{schema}}.events
referencing new table as new_events
for each statement
execute function {{schema}}.tg_events__after_insert();
