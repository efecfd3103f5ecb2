-- pgevents 0006: a cheaper write path, batch handlers and set-based import.
--
-- * Plain INSERT/COPY no longer upserts the stream's row once per event. The row trigger locks the
--   stream's row (once per transaction; relocking is free) and takes the version after the stream's
--   last stored event; one statement-level trigger then records each stream's new version once per
--   statement, checks the rows, and wakes listeners (it replaces events_check_insert and
--   events_notify: one trigger call per statement instead of two).
-- * A plain INSERT may state the stream's next version(s) itself: then the (uuid, version) unique
--   constraint is the concurrency check, as in an optimistic append. Versions that leave a gap are
--   refused as before.
-- * Batch handlers: a projection handler that takes ({{schema}}.events[]) is called once per
--   statement (and per replay or rebuild batch) with all the events of its types, in position order.
-- * import_events: many streams in one set-based INSERT … SELECT, for `pgevents import`.
-- * Replays and rebuilds give a never-analyzed events table statistics first (right after a bulk
--   load, the planner would otherwise sort every later event of the handled types per batch).

-- Event ids made by the store are time-ordered (UUID version 7: a millisecond timestamp, then
-- random bits), so that new ids land at the end of the event_id index rather than on a random
-- page of it (random ids made that index the most expensive part of a bulk load). One expression,
-- so that PostgreSQL inlines it where it is used; for the same reason it pins no search_path, and
-- names every function, operator and type with its schema instead (overlay and substring are
-- grammar, always pg_catalog's): inlined into a writer's INSERT, it is parsed with the writer's
-- search_path. (PostgreSQL 18's uuidv7() is not in 14–17.)
create function {{schema}}.uuid_v7() returns uuid
language sql
volatile
parallel safe
as $$
  select pg_catalog.encode(
           overlay(
             pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
             placing substring(
                       pg_catalog.int8send(pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())
                                                            operator(pg_catalog.*) 1000)::pg_catalog.int8)
                       from 3)
                     operator(pg_catalog.||)
                     pg_catalog.set_byte('\x00'::pg_catalog.bytea, 0,
                                         (112 operator(pg_catalog.+)
                                          pg_catalog.floor(pg_catalog.random() operator(pg_catalog.*) 16))::pg_catalog.int4)
             from 1 for 7),
           'hex')::pg_catalog.uuid
$$;
-- Column defaults run with the inserting role's rights: grant_writer grants it.
alter table {{schema}}.events alter column event_id set default {{schema}}.uuid_v7();

-- Version assignment for rows that arrive without one. Locking the stream's row and reading the
-- stream's last event in one statement: the subquery runs before the lock is taken, so when the
-- lock had to wait for another writer (who then recorded a higher version on the row, as every
-- writer does at the end of its statement) the subquery's answer may be stale, and is read again.
-- A row of the stream that this transaction inserted last needs neither: the lock is held and its
-- version and position are known. The row this trigger saw last is kept in a transaction-local
-- setting with the count of this transaction's inserts into events at that moment; it is the
-- stream's last row only if exactly one insert came since (its own). A row that was not stored
-- after all (skipped by ON CONFLICT DO NOTHING, or by a later trigger) leaves the count as it was.
-- A forged setting can only make this session's own insert fail (a gap or a duplicate version is
-- refused by the statement's checks and the unique constraint), never store a wrong version.
create or replace function {{schema}}.tg_events__assign_version() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_inserted bigint := pg_stat_get_xact_tuples_inserted(tg_relid);
  v_previous text[] := string_to_array(current_setting('pgevents.assign_{{schema}}', true), '/');
  v_recorded bigint;
  v_last_version bigint;
  v_last_id bigint;
begin
  if v_previous[1] = new.uuid::text and v_previous[4] = (v_inserted - 1)::text then
    v_last_version := v_previous[2]::bigint;
    v_last_id := v_previous[3]::bigint;
  else
    select s.version, l.version, l.id into v_recorded, v_last_version, v_last_id
      from streams s
      left join lateral (select e.version, e.id from events e
                          where e.uuid = s.stream order by e.version desc limit 1) l on true
     where s.stream = new.uuid
       for no key update of s;
    if not found then
      -- A new stream: its row is created (and so held) by this transaction, or by a concurrent
      -- one, whose end the insert waits for; then its events are read after the wait.
      insert into streams (stream, version) values (new.uuid, 0) on conflict (stream) do nothing;
      if not found then
        select s.version into v_recorded from streams s where s.stream = new.uuid for no key update;
        v_last_version := -1;
      end if;
    end if;
    if coalesce(v_last_version, 0) < coalesce(v_recorded, 0) then
      v_last_version := null;
      select e.version, e.id into v_last_version, v_last_id
        from events e where e.uuid = new.uuid order by e.version desc limit 1;
    end if;
  end if;
  new.version := coalesce(v_last_version, 0) + 1;
  -- The position was taken before the lock: a writer that held it may have stored a later one.
  if new.id <= v_last_id then
    new.id := nextval('{{schema}}.events_id_seq');
  end if;
  perform set_config('pgevents.assign_{{schema}}', concat_ws('/', new.uuid, new.version, new.id, v_inserted), true);
  return new;
end;
$$;

-- After each INSERT/COPY statement: the rules the rows must keep, the streams' recorded versions,
-- and the wake-up for listeners. Per stream of the statement:
-- * the writing transaction is the real one (gap-safe readers rely on it);
-- * versions above the stream's recorded one continue it without a gap (rows at or below it were
--   reserved by append_events or import_events, and the unique constraint keeps them single);
-- * positions rise with versions and come from the sequence (an explicit position, which only the
--   owner may give, must not run ahead of it nor before the stream's previous event).
-- Most statements write one stream: that case is checked with one query over the new rows (each
-- query of a trigger costs more than the checks themselves), the others per stream.
create function {{schema}}.tg_events__after_insert() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v record;
  v_bad record;
begin
  perform set_config('pgevents.assign_{{schema}}', '', true);
  select a.*,
         -- null until the sequence is first used: then every explicit position is ahead of it.
         a.last_id > coalesce(pg_sequence_last_value('{{schema}}.events_id_seq'), 0) as ahead_of_sequence,
         case when a.first_stream = a.last_stream then
           (select s.version from streams s where s.stream = a.first_stream::uuid) end as recorded,
         case when a.first_stream = a.last_stream and a.first_version > 1 then
           (select e.id from events e where e.uuid = a.first_stream::uuid and e.version = a.first_version - 1) end as previous_id,
         exists (select 1 from listeners) as listening
    into v
    from (select min(n.uuid::text) as first_stream, max(n.uuid::text) as last_stream,
                 min(n.version) as first_version, max(n.version) as last_version, count(*) as events,
                 min(n.id) as first_id, max(n.id) as last_id,
                 bool_and(n.transaction_id = pg_current_xact_id()) as own_transaction
            from new_events n) a;
  if v.events = 0 then
    return null;
  end if;

  if v.first_stream = v.last_stream and not v.ahead_of_sequence and v.own_transaction then
    if v.last_version > coalesce(v.recorded, 0) then
      if v.first_version <> coalesce(v.recorded, 0) + 1 or v.events <> v.last_version - coalesce(v.recorded, 0) then
        perform raise_version_gap(v.first_stream::uuid, v.first_version, coalesce(v.recorded, 0));
      end if;
      insert into streams as s (stream, version) values (v.first_stream::uuid, v.last_version)
      on conflict (stream) do update set version = excluded.version where s.version < excluded.version;
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

create function {{schema}}.raise_foreign_transaction(p_stream uuid) returns void
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

create function {{schema}}.raise_version_gap(p_stream uuid, p_first_version bigint, p_recorded bigint) returns void
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

create function {{schema}}.raise_explicit_position(p_stream uuid, p_version bigint) returns void
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

drop trigger events_check_insert on {{schema}}.events;
drop trigger events_notify on {{schema}}.events;
drop function {{schema}}.tg_events__check_insert();
drop function {{schema}}.tg_events__notify();

-- Named to fire before the projections' triggers (project_*): a refused statement projects nothing.
create trigger events_after_insert
after insert on {{schema}}.events
referencing new table as new_events
for each statement
execute function {{schema}}.tg_events__after_insert();
revoke all on function {{schema}}.tg_events__after_insert(), {{schema}}.raise_foreign_transaction(uuid),
  {{schema}}.raise_version_gap(uuid, bigint, bigint), {{schema}}.raise_explicit_position(uuid, bigint) from public;

-- Batch handlers ------------------------------------------------------------------------------

-- resolve_handler (0002), also accepting a batch handler: a function of ({{schema}}.events[]).
create or replace function {{schema}}.resolve_handler(p_projection text, p_event_type text, p_handler text,
  out handler regprocedure, out takes_event boolean)
language plpgsql
as $$
declare
  v_config text[];
  v_takes_uuid_body boolean;
  v_takes_batch boolean;
  v_owner oid;
  v_path text[];
begin
  if p_handler is null or p_handler = '' then
    raise exception 'Invalid projection %: no handler function given for event type %', p_projection, p_event_type
      using errcode = 'PE006', detail = json_build_object('projection', p_projection, 'type', p_event_type)::text;
  end if;
  -- Before PostgreSQL 16, to_regprocedure raises (rather than returning null) for a name it cannot parse.
  begin
    if position('(' in p_handler) > 0 then
      handler := to_regprocedure(p_handler);
    else
      handler := coalesce(to_regprocedure(p_handler || '(uuid, jsonb)'),
                          to_regprocedure(p_handler || '({{schema}}.events)'),
                          to_regprocedure(p_handler || '({{schema}}.events[])'));
    end if;
  exception
    when syntax_error or invalid_name or invalid_text_representation or undefined_object then
      handler := null;
  end;
  if handler is null then
    raise exception 'Invalid projection %: handler function % for event type % does not exist', p_projection, p_handler, p_event_type
      using errcode = 'PE006',
            detail = json_build_object('projection', p_projection, 'type', p_event_type, 'handler', p_handler)::text,
            hint = 'Create it first, taking (uuid, jsonb) or ({{schema}}.events), with set search_path = <its schema>, pg_temp.';
  end if;
  select p.pronargs = 1 and p.proargtypes[0] = '{{schema}}.events'::regtype,
         p.pronargs = 2 and p.proargtypes[0] = 'uuid'::regtype and p.proargtypes[1] = 'jsonb'::regtype,
         p.pronargs = 1 and p.proargtypes[0] = '{{schema}}.events[]'::regtype,
         p.proconfig, p.proowner
    into takes_event, v_takes_uuid_body, v_takes_batch, v_config, v_owner
    from pg_catalog.pg_proc p where p.oid = handler;
  if not takes_event and not v_takes_uuid_body and not v_takes_batch then
    raise exception 'Invalid projection %: handler % for event type % must take (uuid, jsonb), ({{schema}}.events) or ({{schema}}.events[])', p_projection, handler, p_event_type
      using errcode = 'PE006',
            detail = json_build_object('projection', p_projection, 'type', p_event_type, 'handler', handler::text)::text;
  end if;
  -- Handlers run with the projection owner's rights, so a handler whose name lookups depend on the
  -- caller's search_path could be hijacked by objects in a schema the caller controls.
  if not exists (select 1 from pg_catalog.unnest(v_config) c where c like 'search_path=%') then
    raise exception 'Invalid projection %: handler % does not pin search_path', p_projection, handler
      using errcode = 'PE006',
            detail = json_build_object('projection', p_projection, 'type', p_event_type, 'handler', handler::text)::text,
            hint = 'Add "set search_path = <schema of its tables>, pg_temp" to the function definition.';
  end if;
  -- Unless pg_temp is listed last, PostgreSQL looks for tables in pg_temp first: a writer's temp
  -- table named like a read model would receive the handler's writes in the writer's session.
  select pg_catalog.array_agg(pg_catalog.btrim(e.entry, ' "') order by e.n) into v_path
    from pg_catalog.unnest(v_config) c,
         pg_catalog.unnest(pg_catalog.string_to_array(pg_catalog.substr(c, 13), ',')) with ordinality e(entry, n)
   where c like 'search_path=%';
  if pg_catalog.array_position(v_path, 'pg_temp') is distinct from pg_catalog.cardinality(v_path) then
    raise exception 'Invalid projection %: handler % must pin search_path with pg_temp last', p_projection, handler
      using errcode = 'PE006',
            detail = json_build_object('projection', p_projection, 'type', p_event_type, 'handler', handler::text,
                                       'search_path', pg_catalog.array_to_string(v_path, ', '))::text,
            hint = 'Use "set search_path = <schema of its tables>, pg_temp" in the function definition.';
  end if;
  -- The handler runs with the rights of the role that defines the projection; a function owned by
  -- another role could be replaced by that role at any time, with code that would then run with
  -- those rights (e.g. one planted in a schema named like the definer, first on "$user", public).
  if v_owner <> (select r.oid from pg_catalog.pg_roles r where r.rolname = current_user)
     and not (select bool_and(r.rolsuper) from pg_catalog.pg_roles r
               where r.oid = v_owner or r.rolname = current_user) then
    raise exception 'Invalid projection %: handler % is owned by role %, not by %, the role defining the projection',
      p_projection, handler, pg_catalog.pg_get_userbyid(v_owner), current_user
      using errcode = 'PE006',
            detail = json_build_object('projection', p_projection, 'type', p_event_type, 'handler', handler::text,
                                       'owner', pg_catalog.pg_get_userbyid(v_owner))::text,
            hint = format('Name the function with its schema, and create it as %s (or: alter function %s owner to %s).',
                          current_user, handler, current_user);
  end if;
end;
$$;

-- The code that hands events to a projection's handlers, for the projection's trigger, its replay
-- and its rebuilds. p_call_names maps a handler (its oid, as text) to the function to call instead
-- (a rebuild's clone); unmapped handlers are called by their own name.
-- batch: the handlers take arrays; dispatch then passes each handler the events of v_events (in
-- position order) that are of its types. Otherwise dispatch calls the handler of v_event's type.
-- A projection's handlers are all batch handlers or none: the order in which a mix would see the
-- events could not follow their positions.
create function {{schema}}.projection_apply_code(p_name text, p_call_names jsonb default '{}',
  out types text[], out batch boolean, out dispatch text)
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_handlers record;
begin
  select array_agg(h.event_type order by h.event_type),
         bool_and(f.pronargs = 1 and f.proargtypes[0] = '{{schema}}.events[]'::regtype),
         bool_or(f.pronargs = 1 and f.proargtypes[0] = '{{schema}}.events[]'::regtype)
    into v_handlers
    from projection_handlers h join pg_proc f on f.oid = h.handler::regprocedure
   where h.projection = p_name;
  if v_handlers.bool_and is distinct from v_handlers.bool_or then
    raise exception 'Invalid projection %: its handlers must all take one event ((uuid, jsonb) or ({{schema}}.events)) or all take a batch ({{schema}}.events[])', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = 'Give the projection one kind of handler: e.g. one batch function for all its event types.';
  end if;
  types := v_handlers.array_agg;
  batch := coalesce(v_handlers.bool_and, false);

  if not batch then
    select 'case v_event.type' || string_agg(
             format(E'\n      when %L then perform %s(%s);', h.event_type,
                    coalesce(p_call_names ->> f.oid::text, format('%I.%I', n.nspname, f.proname)),
                    case when h.takes_event then 'v_event' else 'v_event.uuid, v_event.body' end),
             '' order by h.event_type) || E'\n      else null;\n    end case;'
      into dispatch
      from projection_handlers h
      join pg_proc f on f.oid = h.handler::regprocedure
      join pg_namespace n on n.oid = f.pronamespace
     where h.projection = p_name;
  else
    -- One call per handler function, in the order of the first event type each one takes.
    select string_agg(
             case when g.handled = v_handlers.array_agg then format('perform %s(v_events);', g.call)
                  else format(E'v_part := array(select e from unnest(v_events) e where e.type = any(%L::text[]));\n    '
                              'if cardinality(v_part) > 0 then\n      perform %s(v_part);\n    end if;', g.handled, g.call)
             end, E'\n    ' order by g.handled[1])
      into dispatch
      from (select coalesce(p_call_names ->> f.oid::text, format('%I.%I', n.nspname, f.proname)) as call,
                   array_agg(h.event_type order by h.event_type) as handled
              from projection_handlers h
              join pg_proc f on f.oid = h.handler::regprocedure
              join pg_namespace n on n.oid = f.pronamespace
             where h.projection = p_name
             group by 1) g;
  end if;
end;
$$;

-- The exception block of generated code that applies a batch: names the projection and the batch.
create function {{schema}}.projection_batch_error_handler(p_name text) returns text
language sql
immutable
set search_path = {{schema}}, pg_temp
as $$
  select format($code$
exception
  when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text,
                            v_detail = pg_exception_detail, v_hint = pg_exception_hint;
    if v_state like '40%%' or v_state in ('57014', 'PE007') or coalesce(cardinality(v_events), 0) = 0 then
      raise;
    end if;
    raise exception 'Projection %s failed on a batch of %% events (positions %% to %%): %%',
      cardinality(v_events), v_events[1].id, v_events[cardinality(v_events)].id, v_message
      using errcode = 'PE007',
            detail = json_build_object('projection', %L, 'type', v_events[1].type, 'stream', v_events[1].uuid,
                                       'version', v_events[1].version, 'position', v_events[1].id,
                                       'last_position', v_events[cardinality(v_events)].id,
                                       'events', cardinality(v_events),
                                       'sqlstate', v_state, 'message', v_message, 'detail', v_detail)::text,
            hint = coalesce(nullif(v_hint, ''), 'Fix the handler or the events; nothing was stored.');
$code$, p_name, p_name);
$$;

-- An events row built column by column from the row alias p_alias: what batch code puts in its
-- arrays. A whole-row reference (`select e from events e`) costs several times more per row (ten
-- times on a transition table), as PostgreSQL flattens and converts each row.
create function {{schema}}.event_row_code(p_alias text) returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select format('row(%s)::{{schema}}.events', string_agg(format('%I.%I', p_alias, a.attname), ', ' order by a.attnum))
    from pg_attribute a
   where a.attrelid = '{{schema}}.events'::regclass and a.attnum > 0 and not a.attisdropped;
$$;

-- (Re)generate a trigger projection's trigger and replay function (0002's, now also for batch
-- handlers).
create or replace function {{schema}}.generate_projection_code(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_code record;
  v_lock text;
begin
  select * into v_code from projection_apply_code(p_name);
  -- The shared lock keeps replays out, but a REPEATABLE READ or SERIALIZABLE append can still hold a
  -- snapshot taken before a replay committed: its handlers would see the read model as it was (after
  -- a full replay's TRUNCATE: empty), and an UPDATE of a row would silently match nothing. Every
  -- replay updates the projection's registry row, so locking that row raises a serialization
  -- failure (40001) for such an append instead, which the caller retries.
  v_lock := format($l$perform pg_advisory_xact_lock_shared(1885824374, %s);
    if current_setting('transaction_isolation') <> 'read committed' then
      perform 1 from {{schema}}.projections where name = %L for share;
    end if;$l$, projection_lock_key(p_name), p_name);

  if not v_code.batch then
    execute format($f$
create or replace function {{schema}}.%I() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $body$
declare
  v_event {{schema}}.events;
  v_locked boolean := false;
  v_state text; v_message text; v_detail text; v_hint text;
begin
  for v_event in
    select * from new_events where type = any(%L::text[]) order by id
  loop
    if not v_locked then
      %s
      v_locked := true;
    end if;
    %s
  end loop;
  return null;
%s
end;
$body$;
$f$, 'tg_events__project_' || p_name, v_code.types, v_lock, v_code.dispatch, projection_error_handler(p_name));

    execute format($f$
create or replace function {{schema}}.%I(
  p_after bigint, p_limit int, p_stream uuid, p_types text[],
  out applied bigint, out last_position bigint)
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $body$
declare
  v_event {{schema}}.events;
  v_state text; v_message text; v_detail text; v_hint text;
begin
  applied := 0;
  last_position := p_after;
  for v_event in execute
    'select * from {{schema}}.events where id > $1 and type = any($2)'
    || case when p_stream is null then '' else ' and uuid = $3' end
    || case when p_types is null then '' else ' and type = any($4)' end
    || ' order by id limit $5'
    using p_after, %L::text[], p_stream, p_types, p_limit
  loop
    %s
    applied := applied + 1;
    last_position := v_event.id;
  end loop;
%s
end;
$body$;
$f$, 'projection_apply__' || p_name, v_code.types, v_code.dispatch, projection_error_handler(p_name));
  else
    -- A statement's events go to the handlers in batches of at most 10,000 (one batch for all but
    -- bulk loads), so that a batch's array stays far below PostgreSQL's 1 GB limit.
    execute format($f$
create or replace function {{schema}}.%I() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $body$
declare
  v_events {{schema}}.events[];
  v_part {{schema}}.events[];
  v_state text; v_message text; v_detail text; v_hint text;
begin
  v_events := array(select %6$s from new_events n where n.type = any(%2$L::text[]) order by n.id limit 10001);
  if cardinality(v_events) = 0 then
    return null;
  end if;
  %3$s
  if cardinality(v_events) <= 10000 then
    %4$s
    return null;
  end if;
  for v_events in
    select array_agg(c.event order by (c.event).id)
      from (select %6$s as event, (row_number() over (order by n.id) - 1) / 10000 as chunk
              from new_events n where n.type = any(%2$L::text[])) c
     group by c.chunk
     order by c.chunk
  loop
    %4$s
  end loop;
  return null;
%5$s
end;
$body$;
$f$, 'tg_events__project_' || p_name, v_code.types, v_lock, v_code.dispatch, projection_batch_error_handler(p_name),
       event_row_code('n'));

    execute format($f$
create or replace function {{schema}}.%I(
  p_after bigint, p_limit int, p_stream uuid, p_types text[],
  out applied bigint, out last_position bigint)
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $body$
declare
  v_events {{schema}}.events[];
  v_part {{schema}}.events[];
  v_state text; v_message text; v_detail text; v_hint text;
begin
  execute
    'select array(select %s from {{schema}}.events e where e.id > $1 and e.type = any($2)'
    || case when p_stream is null then '' else ' and e.uuid = $3' end
    || case when p_types is null then '' else ' and e.type = any($4)' end
    || ' order by e.id limit $5)'
    into v_events
    using p_after, %L::text[], p_stream, p_types, p_limit;
  applied := coalesce(cardinality(v_events), 0);
  last_position := p_after;
  if applied > 0 then
    %s
    last_position := v_events[applied].id;
  end if;
%s
end;
$body$;
$f$, 'projection_apply__' || p_name, event_row_code('e'), v_code.types, v_code.dispatch, projection_batch_error_handler(p_name));
  end if;

  execute format('revoke all on function {{schema}}.%I() from public', 'tg_events__project_' || p_name);
  execute format('revoke all on function {{schema}}.%I(bigint, int, uuid, text[]) from public', 'projection_apply__' || p_name);

  execute format('drop trigger if exists %I on {{schema}}.events', 'project_' || p_name);
  execute format($f$
create trigger %I
after insert on {{schema}}.events
referencing new table as new_events
for each statement
execute function {{schema}}.%I()
$f$, 'project_' || p_name, 'tg_events__project_' || p_name);
end;
$$;

-- create_shadow (0005), with its rebuild dispatch generated by projection_apply_code (batch handlers too).
-- Copies a projection's tables (structure, defaults, constraints, indexes under their live names,
-- fresh sequences) into p_schema, clones each handler there with the shadow schema first on its
-- search_path, and generates p_schema.apply_events, the projection's dispatch over the events of
-- a snapshot range. With p_for_swap, foreign keys are copied too (between shadow tables) and the
-- tables are checked for what a swap cannot carry over.
create or replace function {{schema}}.create_shadow(p_name text, p_schema name, p_for_swap boolean) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_table text;
  v_rel regclass;
  v_shadow text;
  v_class record;
  v_column record;
  v_index record;
  v_fk record;
  v_handler record;
  v_clones jsonb := '{}';
  v_clone text;
  v_config text;
  v_path text;
  v_settings text;
  v_code record;
begin
  select * into v_projection from projections where name = p_name;
  perform check_rebuild_tables(p_name, p_for_swap);

  execute format('drop schema if exists %I cascade', p_schema);
  execute format('create schema %I', p_schema);
  execute format('revoke all on schema %I from public', p_schema);

  foreach v_table in array v_projection.tables loop
    v_rel := to_regclass(v_table);
    select c.relname, c.relpersistence, c.reloptions, c.relreplident into v_class from pg_class c where c.oid = v_rel;
    v_shadow := format('%I.%I', p_schema, v_class.relname);
    execute format('create %s table %s (like %s including all)%s',
                   case when v_class.relpersistence = 'u' then 'unlogged' else '' end, v_shadow, v_rel,
                   case when v_class.reloptions is null then ''
                        else format(' with (%s)', array_to_string(v_class.reloptions, ', ')) end);

    -- LIKE copies a serial column's default, nextval of the live table's sequence: give the
    -- shadow a sequence of its own, as a full replay's restart identity would. Identity columns
    -- get a new sequence from LIKE; name it as the live one, so that names survive the swap.
    for v_column in
      select a.attname, a.attidentity, pg_get_serial_sequence(v_rel::text, a.attname)::regclass as seq
        from pg_attribute a
       where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped
         and pg_get_serial_sequence(v_rel::text, a.attname) is not null
    loop
      if v_column.attidentity = '' then
        execute (select format('create sequence %I.%I as %s increment %s minvalue %s maxvalue %s start %s cache %s %s owned by %s.%I',
                               p_schema, c.relname, format_type(s.seqtypid, null), s.seqincrement, s.seqmin, s.seqmax,
                               s.seqstart, s.seqcache, case when s.seqcycle then 'cycle' else 'no cycle' end,
                               v_shadow, v_column.attname)
                   from pg_sequence s join pg_class c on c.oid = s.seqrelid
                  where s.seqrelid = v_column.seq);
        execute format('alter table %s alter column %I set default nextval(%L::regclass)', v_shadow, v_column.attname,
                       format('%I.%I', p_schema, (select relname from pg_class where oid = v_column.seq)));
      else
        execute format('alter sequence %s rename to %I', pg_get_serial_sequence(v_shadow, v_column.attname),
                       (select relname from pg_class where oid = v_column.seq));
      end if;
    end loop;

    -- LIKE names the copied indexes after the table and columns; give them the live names
    -- (renaming a constraint's index renames the constraint).
    for v_index in
      select s.indexrelid as shadow_index, l.indexrelid as live_index
        from pg_index s
        join lateral (
          select l.indexrelid from pg_index l
            join pg_class lc on lc.oid = l.indexrelid
            join pg_class sc on sc.oid = s.indexrelid
           where l.indrelid = v_rel
             and l.indisunique = s.indisunique and l.indisprimary = s.indisprimary
             and l.indisexclusion = s.indisexclusion
             and l.indkey::text = s.indkey::text and l.indclass::text = s.indclass::text
             and l.indcollation::text = s.indcollation::text and l.indoption::text = s.indoption::text
             and lc.relam = sc.relam
             and pg_get_expr(l.indexprs, l.indrelid) is not distinct from pg_get_expr(s.indexprs, s.indrelid)
             and pg_get_expr(l.indpred, l.indrelid) is not distinct from pg_get_expr(s.indpred, s.indrelid)
           order by l.indexrelid
           limit 1) l on true
       where s.indrelid = to_regclass(v_shadow)
    loop
      if (select relname from pg_class where oid = v_index.shadow_index) <> (select relname from pg_class where oid = v_index.live_index) then
        execute format('alter index %s rename to %I', v_index.shadow_index::regclass,
                       (select relname from pg_class where oid = v_index.live_index) || '__pgevents_tmp');
      end if;
    end loop;
    for v_index in
      select i.indexrelid, c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
       where i.indrelid = to_regclass(v_shadow) and c.relname like '%\_\_pgevents\_tmp'
    loop
      execute format('alter index %s rename to %I', v_index.indexrelid::regclass,
                     left(v_index.relname, length(v_index.relname) - length('__pgevents_tmp')));
    end loop;
    if v_class.relreplident = 'f' then
      execute format('alter table %s replica identity full', v_shadow);
    elsif v_class.relreplident = 'n' then
      execute format('alter table %s replica identity nothing', v_shadow);
    elsif v_class.relreplident = 'i' then
      execute format('alter table %s replica identity using index %I', v_shadow,
                     (select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
                       where i.indrelid = v_rel and i.indisreplident));
    end if;
  end loop;

  -- Foreign keys between the projection's tables point at the shadows; others keep their target.
  if p_for_swap then
    for v_fk in
      select k.conname, k.conrelid, k.confrelid, k.confmatchtype, k.confupdtype, k.confdeltype,
             k.condeferrable, k.condeferred,
             (select string_agg(format('%I', a.attname), ', ' order by u.ord)
                from unnest(k.conkey) with ordinality u(attnum, ord)
                join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.attnum) as columns,
             (select string_agg(format('%I', a.attname), ', ' order by u.ord)
                from unnest(k.confkey) with ordinality u(attnum, ord)
                join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.attnum) as ref_columns
        from pg_constraint k
       where k.contype = 'f'
         and k.conrelid = any(select to_regclass(t) from unnest(v_projection.tables) t)
    loop
      execute format('alter table %I.%I add constraint %I foreign key (%s) references %s (%s) match %s on update %s on delete %s %s',
        p_schema, (select relname from pg_class where oid = v_fk.conrelid), v_fk.conname, v_fk.columns,
        case when v_fk.confrelid = any(select to_regclass(t) from unnest(v_projection.tables) t)
             then format('%I.%I', p_schema, (select relname from pg_class where oid = v_fk.confrelid))
             else v_fk.confrelid::regclass::text end,
        v_fk.ref_columns,
        case v_fk.confmatchtype when 'f' then 'full' else 'simple' end,
        case v_fk.confupdtype when 'r' then 'restrict' when 'c' then 'cascade' when 'n' then 'set null' when 'd' then 'set default' else 'no action' end,
        case v_fk.confdeltype when 'r' then 'restrict' when 'c' then 'cascade' when 'n' then 'set null' when 'd' then 'set default' else 'no action' end,
        case when not v_fk.condeferrable then 'not deferrable'
             when v_fk.condeferred then 'deferrable initially deferred' else 'deferrable initially immediate' end);
    end loop;
  end if;

  -- Clone each handler function into the shadow schema: same arguments, result, language,
  -- settings and body, with the shadow schema first on its search_path, so that the table names
  -- it writes unqualified resolve to the shadow copies.
  for v_handler in
    select distinct f.oid, f.proname, l.lanname, f.prosrc, f.prosqlbody is not null as atomic, f.proconfig,
           f.provolatile, f.proisstrict, f.prosecdef
      from projection_handlers h
      join pg_proc f on f.oid = h.handler::regprocedure
      join pg_language l on l.oid = f.prolang
     where h.projection = p_name
     order by f.oid
  loop
    if v_handler.atomic or v_handler.lanname in ('c', 'internal') then
      perform raise_rebuild_refused(p_name,
        format('its handler %s has a %s body, whose table references cannot be redirected to the shadow tables',
               v_handler.oid::regprocedure, case when v_handler.atomic then 'SQL-standard (BEGIN ATOMIC)' else v_handler.lanname end),
        'Write the handler in plpgsql or with a quoted SQL body instead of BEGIN ATOMIC, or use replay_projection.');
    end if;
    v_clone := v_handler.proname;
    if exists (select 1 from pg_proc f where f.pronamespace = (select n.oid from pg_namespace n where n.nspname = p_schema) and f.proname = v_clone) then
      v_clone := left(v_handler.proname, 50) || '_' || (select count(*) from jsonb_object_keys(v_clones));
    end if;
    v_path := null;
    v_settings := '';
    foreach v_config in array coalesce(v_handler.proconfig, '{}') loop
      if v_config like 'search\_path=%' then
        v_path := substr(v_config, length('search_path=') + 1);
      else
        v_settings := v_settings || format(' set %s = %L', split_part(v_config, '=', 1), substr(v_config, position('=' in v_config) + 1));
      end if;
    end loop;
    -- The path is written as a list, not as one string (which would name a single schema).
    execute format('create function %I.%I(%s) returns %s language %I %s %s %s set search_path = %s%s as %L',
                   p_schema, v_clone, pg_get_function_arguments(v_handler.oid), pg_get_function_result(v_handler.oid),
                   v_handler.lanname,
                   case v_handler.provolatile when 'i' then 'immutable' when 's' then 'stable' else 'volatile' end,
                   case when v_handler.proisstrict then 'strict' else 'called on null input' end,
                   case when v_handler.prosecdef then 'security definer' else 'security invoker' end,
                   concat_ws(', ', quote_ident(p_schema), nullif(nullif(v_path, ''), '""')), v_settings, v_handler.prosrc);
    execute format('revoke all on function %I.%I(%s) from public', p_schema, v_clone,
                   pg_get_function_identity_arguments(v_handler.oid));
    v_clones := v_clones || jsonb_build_object(v_handler.oid::text, v_clone);
  end loop;

  select * into v_code
    from projection_apply_code(p_name, (select coalesce(jsonb_object_agg(c.key, format('%I.%I', p_schema, c.value)), '{}')
                                           from jsonb_each_text(v_clones) c));

  -- The events of a rebuild round: handled events after p_after, visible in p_cur (all committed
  -- ones when null) and not in p_prev, in position order. Dynamic SQL, so that each call is
  -- planned for its own range (the primary key for round 0, the transaction index after).
  if not v_code.batch then
    execute format($f$
create function %I.apply_events(
  p_after bigint, p_limit int, p_prev pg_snapshot, p_cur pg_snapshot,
  out applied bigint, out last_position bigint)
language plpgsql
set search_path = {{schema}}, pg_temp
as $body$
declare
  v_event {{schema}}.events;
  v_state text; v_message text; v_detail text; v_hint text;
begin
  applied := 0;
  last_position := p_after;
  for v_event in execute
    'select * from {{schema}}.events e where e.id > $1 and e.type = any($2)'
    || case when p_cur is null then '' else ' and pg_visible_in_snapshot(e.transaction_id, $3)' end
    || case when p_prev is null then ''
            else ' and e.transaction_id >= pg_snapshot_xmin($4) and not pg_visible_in_snapshot(e.transaction_id, $4)' end
    || ' order by e.id limit $5'
    using p_after, %L::text[], p_cur, p_prev, p_limit
  loop
    %s
    applied := applied + 1;
    last_position := v_event.id;
  end loop;
%s
end;
$body$;
$f$, p_schema, v_code.types, v_code.dispatch, projection_error_handler(p_name));
  else
    execute format($f$
create function %I.apply_events(
  p_after bigint, p_limit int, p_prev pg_snapshot, p_cur pg_snapshot,
  out applied bigint, out last_position bigint)
language plpgsql
set search_path = {{schema}}, pg_temp
as $body$
declare
  v_events {{schema}}.events[];
  v_part {{schema}}.events[];
  v_state text; v_message text; v_detail text; v_hint text;
begin
  execute
    'select array(select %s from {{schema}}.events e where e.id > $1 and e.type = any($2)'
    || case when p_cur is null then '' else ' and pg_visible_in_snapshot(e.transaction_id, $3)' end
    || case when p_prev is null then ''
            else ' and e.transaction_id >= pg_snapshot_xmin($4) and not pg_visible_in_snapshot(e.transaction_id, $4)' end
    || ' order by e.id limit $5)'
    into v_events
    using p_after, %L::text[], p_cur, p_prev, p_limit;
  applied := coalesce(cardinality(v_events), 0);
  last_position := p_after;
  if applied > 0 then
    %s
    last_position := v_events[applied].id;
  end if;
%s
end;
$body$;
$f$, p_schema, event_row_code('e'), v_code.types, v_code.dispatch, projection_batch_error_handler(p_name));
  end if;
  execute format('revoke all on function %I.apply_events(bigint, int, pg_snapshot, pg_snapshot) from public', p_schema);
end;
$$;

-- Replaced by projection_apply_code.
drop function {{schema}}.projection_dispatch_code(text);

-- Import ---------------------------------------------------------------------------------------

-- Locks the given streams' rows for the rest of the transaction, in stream order so that two
-- imports never deadlock on each other, creating the rows of new streams; returns each stream's
-- recorded version.
create function {{schema}}.lock_streams(p_streams uuid[]) returns table (stream uuid, version bigint)
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
create function {{schema}}.import_events(p_source regclass)
returns table (imported bigint, skipped bigint, streams bigint, first_position bigint, last_position bigint)
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_streams uuid[];
  v_rows bigint;
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

revoke all on function {{schema}}.lock_streams(uuid[]), {{schema}}.import_events(regclass) from public;

-- grant_writer (0004), also granting imports.
create or replace function {{schema}}.grant_writer(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  perform grant_reader(p_role);
  -- Not id, inserted_at or transaction_id: a writer's events get their position, time and
  -- transaction from the store.
  execute format('grant insert (uuid, version, type, body, metadata, event_id) on {{schema}}.events to %I', p_role);
  execute format('grant execute on function {{schema}}.append_events(uuid, jsonb, text), '
                 '{{schema}}.import_events(regclass), {{schema}}.lock_streams(uuid[]), {{schema}}.uuid_v7() to %I', p_role);
  update roles set access = 'writer' where role_name = p_role;
end;
$$;

do $$
declare
  v_role name;
begin
  for v_role in select r.role_name from {{schema}}.roles r
                 where r.access = 'writer' and to_regrole(quote_ident(r.role_name)) is not null loop
    execute format('grant execute on function {{schema}}.import_events(regclass), {{schema}}.lock_streams(uuid[]), '
                   '{{schema}}.uuid_v7() to %I', v_role);
  end loop;
end;
$$;

-- Existing trigger projections get this migration's code (replay batches along the primary key).
-- A projection whose handler was dropped keeps its code until it is defined again.
do $$
declare
  v_name text;
begin
  for v_name in
    select p.name from {{schema}}.projections p
     where p.kind = 'trigger'
       and not exists (select 1 from {{schema}}.projection_handlers h
                        where h.projection = p.name and to_regprocedure(h.handler) is null)
     order by p.name
  loop
    perform {{schema}}.generate_projection_code(v_name);
  end loop;
end;
$$;

-- append_events (0001) with fewer statements per call, each of which costs more than the work in
-- it: the events are checked and their ids collected in one pass; without ids, the stream's row is
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
  v_bad_index int;
  v_bad jsonb;
  v_ids uuid[];
  v_expected bigint;
  v_current bigint;
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

  select count(*),
         min(e.ord) filter (where not e.valid),
         array_agg((e.value ->> 'id')::uuid order by e.ord) filter (where e.valid and e.value ? 'id')
    into v_count, v_bad_index, v_ids
    from (select x.value, x.ord,
                 (jsonb_typeof(x.value) = 'object'
                 and jsonb_typeof(x.value -> 'type') = 'string'
                 and jsonb_typeof(x.value -> 'body') = 'object'
                 and (not x.value ? 'metadata' or jsonb_typeof(x.value -> 'metadata') = 'object')
                 and (not x.value ? 'id' or (jsonb_typeof(x.value -> 'id') = 'string'
                      and (x.value ->> 'id') ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$')))
                 is true as valid
            from jsonb_array_elements(p_events) with ordinality x(value, ord)) e;
  if v_bad_index is not null then
    v_bad := p_events -> (v_bad_index - 1);
    raise exception 'Invalid event at index %: % (Stream: %)', v_bad_index - 1,
      case
        when jsonb_typeof(v_bad) is distinct from 'object' then 'an event must be a JSON object'
        when jsonb_typeof(v_bad -> 'type') is distinct from 'string' then 'type must be a string'
        when jsonb_typeof(v_bad -> 'body') is distinct from 'object' then 'body must be a JSON object'
        when v_bad ? 'metadata' and jsonb_typeof(v_bad -> 'metadata') is distinct from 'object' then 'metadata must be a JSON object'
        else 'id must be a uuid'
      end, p_stream
      using errcode = 'PE003',
            detail = json_build_object('stream', p_stream, 'index', v_bad_index - 1)::text,
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

  if v_ids is null then
    return query
      with reserved as (
        insert into streams as s (stream, version) values (p_stream, v_count)
        on conflict (stream) do update set version = s.version + v_count
        returning s.version - v_count as current,
                  check_expected_version(p_stream, p_expected_version, v_expected, s.version - v_count) as expected
      ), inserted as (
        insert into events (uuid, version, type, body, metadata, event_id)
        select p_stream, r.current + e.ord, e.value ->> 'type', e.value -> 'body',
               coalesce(e.value -> 'metadata', '{}'::jsonb), uuid_v7()
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
  returning s.version - v_count into v_current;
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
  perform check_expected_version(p_stream, p_expected_version, v_expected, v_current);

  return query
    with inserted as (
      insert into events (uuid, version, type, body, metadata, event_id)
      select p_stream, v_current + e.ord, e.value ->> 'type', e.value -> 'body',
             coalesce(e.value -> 'metadata', '{}'::jsonb), coalesce((e.value ->> 'id')::uuid, uuid_v7())
        from jsonb_array_elements(p_events) with ordinality e(value, ord)
       order by e.ord
      returning events.event_id, events.version, events.id
    )
    select i.event_id, i.version, i.id from inserted i order by i.version;
end;
$$;

-- True when a stream at version p_current meets the expected version (p_expected: null for any,
-- 0 for no stream, -1 for an existing stream, else the exact version); raises PE001 otherwise.
create function {{schema}}.check_expected_version(p_stream uuid, p_expected_version text, p_expected bigint, p_current bigint)
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
revoke all on function {{schema}}.check_expected_version(uuid, text, bigint, bigint) from public;

-- Statistics for the events table when it has none yet (right after a bulk load, before
-- autovacuum's ANALYZE): a replay's or rebuild's batches, `id > $1 and type = any($2) order by id
-- limit $3`, then walk the primary key instead of sorting every later event of those types per
-- batch, which made a replay of 1M freshly loaded events quadratic. A role that does not own the
-- table gets a warning from ANALYZE, not an error.
create function {{schema}}.analyze_events_if_needed() returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  if (select c.reltuples from pg_class c where c.oid = '{{schema}}.events'::regclass) < 0 then
    analyze {{schema}}.events;
  end if;
end;
$$;

-- replay_start (0005's wrapper of 0002's), analyzing the events table first when it was never.
create or replace function {{schema}}.replay_start(
  p_name text,
  p_stream uuid default null,
  p_types text[] default null,
  p_from_position bigint default null
) returns bigint
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_total bigint;
begin
  perform analyze_events_if_needed();
  v_total := replay_start_base(p_name, p_stream, p_types, p_from_position);
  if p_stream is null and p_types is null and p_from_position is null then
    update projections set built_version = version where name = p_name;
  end if;
  return v_total;
end;
$$;

-- rebuild_start (0005), analyzing the events table first when it was never.
alter function {{schema}}.rebuild_start(text, boolean) rename to rebuild_start_base;
create function {{schema}}.rebuild_start(p_name text, p_restart boolean default false)
returns {{schema}}.rebuild_progress
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  perform analyze_events_if_needed();
  return rebuild_start_base(p_name, p_restart);
end;
$$;
revoke all on function {{schema}}.analyze_events_if_needed(), {{schema}}.rebuild_start_base(text, boolean),
  {{schema}}.rebuild_start(text, boolean) from public;
