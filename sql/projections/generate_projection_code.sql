-- (Re)generate a trigger projection's code: its trigger on the events table (per-event handlers
-- per row, batch handlers once per statement) and its replay function. The migration runner calls
-- it for every trigger projection whenever the definitions change.
create or replace function {{schema}}.generate_projection_code(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_code record;
begin
  select * into v_code from projection_apply_code(p_name);

  execute format($f$
create or replace function {{schema}}.%I() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as %L
$f$, 'tg_events__project_' || p_name, projection_trigger_body(p_name, v_code.types, v_code.batch, v_code.dispatch));

  perform create_apply_function(format('{{schema}}.%I', 'projection_apply__' || p_name), 'p_stream uuid, p_types text[]', true,
    $filters$case when p_stream is null then '' else ' and e.uuid = $3' end
    || case when p_types is null then '' else ' and e.type = any($4)' end$filters$,
    'p_stream, p_types', p_name, v_code.types, v_code.batch, v_code.dispatch);

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

-- The body of a projection's trigger function: its events of the statement, in position order, to
-- the handlers (per-event handlers one event at a time; batch handlers in batches of at most 10,000,
-- one batch for all but bulk loads, so that a batch's array stays far below PostgreSQL's 1 GB limit).
-- The personal fields of declared types reach the handlers decrypted (reveal_personal_data; the
-- trigger runs as the store's owner).
create or replace function {{schema}}.projection_trigger_body(p_name text, p_types text[], p_batch boolean, p_dispatch text)
returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select case when not p_batch then format($code$
declare
  v_event {{schema}}.events;
  v_locked boolean := false;
  v_state text; v_message text; v_detail text; v_hint text;
begin
  for v_event in
    select * from new_events where type = any(%1$L::text[]) order by id
  loop
    if not v_locked then
      %2$s
      v_locked := true;
    end if;%5$s
    %3$s
  end loop;
  return null;
%4$s
end;
$code$, p_types, projection_lock_code(p_name), p_dispatch, projection_error_handler(p_name),
    case when exists (select 1 from personal_data_declarations d where d.type = any(p_types))
         then E'\n    v_event.body := {{schema}}.reveal_personal_data(v_event.type, v_event.body);' else '' end)
  else format($code$
declare
  v_events {{schema}}.events[];
  v_part {{schema}}.events[];
  v_state text; v_message text; v_detail text; v_hint text;
begin
  v_events := array(select %5$s from new_events n where n.type = any(%1$L::text[]) order by n.id limit 10001);
  if cardinality(v_events) = 0 then
    return null;
  end if;
  %2$s
  if cardinality(v_events) <= 10000 then
    %3$s
    return null;
  end if;
  for v_events in
    select array_agg(c.event order by (c.event).id)
      from (select %5$s as event, (row_number() over (order by n.id) - 1) / 10000 as chunk
              from new_events n where n.type = any(%1$L::text[])) c
     group by c.chunk
     order by c.chunk
  loop
    %3$s
  end loop;
  return null;
%4$s
end;
$code$, p_types, projection_lock_code(p_name), p_dispatch, projection_batch_error_handler(p_name),
    case when exists (select 1 from personal_data_declarations d where d.type = any(p_types))
         then replace(event_row_code('n'), 'n.body', '{{schema}}.reveal_personal_data(n.type, n.body)') else event_row_code('n') end)
  end;
$$;

-- What an append does before its first event reaches a projection's handlers. The shared lock keeps
-- replays out, but a REPEATABLE READ or SERIALIZABLE append can still hold a snapshot taken before
-- a replay committed: its handlers would see the read model as it was (rows the replay deleted, or,
-- where it truncated, an empty table), and an UPDATE of a row would silently match nothing or
-- fail. Every replay updates the projection's registry row, so locking that row raises a
-- serialization failure (40001) for such an append instead, which the caller retries.
create or replace function {{schema}}.projection_lock_code(p_name text) returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select format($l$perform pg_advisory_xact_lock_shared(1885824374, %s);
    if current_setting('transaction_isolation') <> 'read committed' then
      perform 1 from {{schema}}.projections where name = %L for share;
    end if;$l$, projection_lock_key(p_name), p_name);
$$;

-- Creates p_function(p_after bigint, p_limit int, <p_parameters>, out applied, out last_position):
-- a projection's handlers applied to at most p_limit of its events after position p_after, in
-- position order (in their current shape: current_events), that also pass p_filters (a plpgsql text expression adding conditions on the
-- events row e, whose $3 and $4 are bound to p_arguments). A projection's replay function and a
-- rebuild's apply_events are both made here. Dynamic SQL, so that each call is planned for its own
-- range and filters.
create or replace function {{schema}}.create_apply_function(p_function text, p_parameters text, p_security_definer boolean,
  p_filters text, p_arguments text, p_name text, p_types text[], p_batch boolean, p_dispatch text)
returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  execute format($f$
create or replace function %s(
  p_after bigint, p_limit int, %s,
  out applied bigint, out last_position bigint)
language plpgsql
%s
set search_path = {{schema}}, pg_temp
as %L
$f$, p_function, p_parameters, case when p_security_definer then 'security definer' else 'security invoker' end,
    case when not p_batch then format($code$
declare
  v_event {{schema}}.events;
  v_state text; v_message text; v_detail text; v_hint text;
begin
  applied := 0;
  last_position := p_after;
  for v_event in execute
    {{schema}}.apply_events_query(%2$L::text[], 'select e.id, e.uuid, e.version, e.type, e.body, e.metadata, e.event_id, e.inserted_at, e.transaction_id, e.type_version, e.archived, e.tenant from {{schema}}.events e')
    || %1$s
    || ' order by e.id limit $5'
    using p_after, %2$L::text[], %3$s, p_limit, {{schema}}.upcast_sources(%2$L::text[])
  loop
    %4$s
    applied := applied + 1;
    last_position := v_event.id;
  end loop;
%5$s
end;
$code$, p_filters, p_types, p_arguments, p_dispatch, projection_error_handler(p_name))
    else format($code$
declare
  v_events {{schema}}.events[];
  v_part {{schema}}.events[];
  v_state text; v_message text; v_detail text; v_hint text;
begin
  execute
    {{schema}}.apply_events_query(%2$L::text[], 'select array(select %6$s from {{schema}}.events e')
    || %1$s
    || ' order by e.id limit $5)'
    into v_events
    using p_after, %2$L::text[], %3$s, p_limit, {{schema}}.upcast_sources(%2$L::text[]);
  applied := coalesce(cardinality(v_events), 0);
  last_position := p_after;
  if applied > 0 then
    %4$s
    last_position := v_events[applied].id;
  end if;
%5$s
end;
$code$, p_filters, p_types, p_arguments, p_dispatch, projection_batch_error_handler(p_name), event_row_code('e'))
    end);
end;
$$;

-- The start of an apply function's query of a projection's events after $1 of types $2, given its
-- select list over the events table (alias e): the table's rows as they are, unless an upcaster
-- touches the types; then the rows of current_events whose stored types ($6, upcast_sources) read
-- as one of them. The planner sees which, so a store without upcasters reads as before.
create or replace function {{schema}}.apply_events_query(p_types text[], p_select text) returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select case when types_read_as_stored(p_types)
              then p_select || ' where e.id > $1 and e.type = any($2)'
              else replace(p_select, '{{schema}}.events e', '{{schema}}.current_events e')
                   || ' where e.id > $1 and e.stored_type = any($6) and e.type = any($2)' end;
$$;

-- The code that hands events to a projection's handlers, for the projection's trigger, its replay
-- and its rebuilds. p_call_names maps a handler (its oid, as text) to the function to call instead
-- (a rebuild's clone); unmapped handlers are called by their own name.
-- batch: the handlers take arrays; dispatch then passes each handler the events of v_events (in
-- position order) that are of its types. Otherwise dispatch calls the handler of v_event's type.
-- A projection's handlers are all batch handlers or none: the order in which a mix would see the
-- events could not follow their positions.
create or replace function {{schema}}.projection_apply_code(p_name text, p_call_names jsonb default '{}',
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

create or replace function {{schema}}.projection_error_handler(p_name text) returns text
language sql
immutable
set search_path = {{schema}}, pg_temp
as $$
  select format($code$
exception
  when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text,
                            v_detail = pg_exception_detail, v_hint = pg_exception_hint;
    if v_state like '40%%' or v_state in ('57014', 'PE007') or v_event.id is null then
      raise;
    end if;
    raise exception 'Projection %s failed on event %% (Stream: %%, Version: %%): %%',
      v_event.type, v_event.uuid, v_event.version, v_message
      using errcode = 'PE007',
            detail = json_build_object('projection', %L, 'type', v_event.type, 'stream', v_event.uuid,
                                       'version', v_event.version, 'position', v_event.id,
                                       'sqlstate', v_state, 'message', v_message, 'detail', v_detail)::text,
            hint = coalesce(nullif(v_hint, ''), 'Fix the handler or the event; nothing was stored.');
$code$, p_name, p_name);
$$;

-- The exception block of generated code that applies a batch: names the projection and the batch.
create or replace function {{schema}}.projection_batch_error_handler(p_name text) returns text
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
create or replace function {{schema}}.event_row_code(p_alias text) returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select format('row(%s)::{{schema}}.events', string_agg(format('%I.%I', p_alias, a.attname), ', ' order by a.attnum))
    from pg_attribute a
   where a.attrelid = '{{schema}}.events'::regclass and a.attnum > 0 and not a.attisdropped;
$$;
