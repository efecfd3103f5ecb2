-- pgevents 0002: trigger projections, replay and materialized-view projections.

create table {{schema}}.projections (
  name text primary key,
  kind text not null,
  version int not null default 1,
  tables text[] not null default '{}',
  stream_column text,
  view_query text,
  defined_at timestamptz not null default statement_timestamp(),
  last_replayed_at timestamptz,
  last_refreshed_at timestamptz,
  refreshed_position bigint,
  constraint projections_name_valid check (name ~ '^[a-z][a-z0-9_]{0,39}$'),
  constraint projections_kind_valid check (kind in ('trigger', 'materialized_view')),
  constraint projections_version_positive check (version >= 1)
);

create table {{schema}}.projection_handlers (
  projection text not null references {{schema}}.projections (name) on delete cascade,
  event_type text not null,
  handler text not null,
  takes_event boolean not null,
  primary key (projection, event_type)
);

-- Known roles, so that read models defined later are granted to them too.
create table {{schema}}.roles (
  role_name name primary key,
  access text not null,
  granted_at timestamptz not null default statement_timestamp(),
  constraint roles_access_valid check (access in ('reader', 'writer'))
);

-- Read access to a projection's tables for every registered reader and writer.
create function {{schema}}.grant_projection_reads(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_table text;
  v_role name;
begin
  for v_role in select role_name from roles where to_regrole(quote_ident(role_name)) is not null loop
    foreach v_table in array (select tables from projections where name = p_name) loop
      if to_regclass(v_table) is not null then
        execute format('grant select on %s to %I', to_regclass(v_table), v_role);
      end if;
    end loop;
  end loop;
end;
$$;

-- Appends of events a projection handles take this lock shared; a replay of the projection takes
-- it exclusively, so that no append is applied both by its trigger and by the replay, or by neither.
create function {{schema}}.projection_lock_key(p_name text) returns int
language sql
immutable
set search_path = {{schema}}, pg_temp
as $$
  select hashtext('{{schema}}.' || p_name);
$$;

create function {{schema}}.raise_unknown_projection(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Unknown projection: %', p_name
    using errcode = 'PE005',
          detail = json_build_object('projection', p_name)::text,
          hint = 'List the defined projections with: select name from {{schema}}.projections';
end;
$$;

-- Resolve a handler given as 'schema.function', 'function' or a full signature to a function that
-- takes (uuid, jsonb) — as in the seed — or the whole event row. Names resolve with the caller's
-- search_path (this function does not pin one), as they would in the caller's own SQL.
create function {{schema}}.resolve_handler(p_projection text, p_event_type text, p_handler text,
  out handler regprocedure, out takes_event boolean)
language plpgsql
as $$
declare
  v_config text[];
  v_takes_uuid_body boolean;
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
                          to_regprocedure(p_handler || '({{schema}}.events)'));
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
         p.proconfig, p.proowner
    into takes_event, v_takes_uuid_body, v_config, v_owner
    from pg_catalog.pg_proc p where p.oid = handler;
  if not takes_event and not v_takes_uuid_body then
    raise exception 'Invalid projection %: handler % for event type % must take (uuid, jsonb) or ({{schema}}.events)', p_projection, handler, p_event_type
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

-- Generated code: the CASE that dispatches one event (in v_event) to the projection's handlers.
create function {{schema}}.projection_dispatch_code(p_name text) returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select 'case v_event.type' || string_agg(
           format(E'\n      when %L then perform %s(%s);',
                  h.event_type,
                  (select format('%I.%I', n.nspname, p.proname)
                     from pg_proc p join pg_namespace n on n.oid = p.pronamespace
                    where p.oid = h.handler::regprocedure),
                  case when h.takes_event then 'v_event' else 'v_event.uuid, v_event.body' end),
           '' order by h.event_type)
         || E'\n      else null;\n    end case;'
    from projection_handlers h
   where h.projection = p_name;
$$;

create function {{schema}}.projection_error_handler(p_name text) returns text
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

-- (Re)generate the trigger and the replay function of a trigger projection from its registry rows.
create function {{schema}}.generate_projection_code(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_types text[];
  v_dispatch text;
  v_on_error text;
  v_lock text;
begin
  select array_agg(event_type order by event_type) into v_types
    from projection_handlers where projection = p_name;
  v_dispatch := projection_dispatch_code(p_name);
  v_on_error := projection_error_handler(p_name);
  -- The shared lock keeps replays out, but a REPEATABLE READ or SERIALIZABLE append can still hold a
  -- snapshot taken before a replay committed: its handlers would see the read model as it was (after
  -- a full replay's TRUNCATE: empty), and an UPDATE of a row would silently match nothing. Every
  -- replay updates the projection's registry row, so locking that row raises a serialization
  -- failure (40001) for such an append instead, which the caller retries.
  v_lock := format($l$perform pg_advisory_xact_lock_shared(1885824374, %s);
      if current_setting('transaction_isolation') <> 'read committed' then
        perform 1 from {{schema}}.projections where name = %L for share;
      end if;$l$, projection_lock_key(p_name), p_name);

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
$f$, 'tg_events__project_' || p_name, v_types, v_lock, v_dispatch, v_on_error);

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
$f$, 'projection_apply__' || p_name, v_types, v_dispatch, v_on_error);

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

-- Define (or redefine) a trigger projection.
-- p_handlers: {"event_type": "schema.function", ...}; each function takes (uuid, jsonb) or the
--   whole event row, and pins its own search_path.
-- p_tables: the read-model tables the projection owns (emptied by a full replay).
-- p_stream_column: the column of those tables that holds the stream uuid (needed to replay one stream).
-- Function and table names resolve with the caller's search_path (this function does not pin one)
-- and are stored schema-qualified.
create function {{schema}}.define_projection(
  p_name text,
  p_handlers jsonb,
  p_tables text[] default '{}',
  p_stream_column text default null,
  p_version int default 1
) returns void
language plpgsql
as $$
declare
  v_handler record;
  v_resolved record;
  v_table text;
  v_tables text[] := '{}';
  v_rel regclass;
begin
  if p_name is null or p_name !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'Invalid projection name: %', coalesce(p_name, 'null')
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = 'Use 1 to 40 characters: a lowercase letter, then lowercase letters, digits or _.';
  end if;
  if exists (select 1 from {{schema}}.projections where name = p_name and kind <> 'trigger') then
    raise exception 'Invalid projection %: a materialized view projection has this name', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  if p_handlers is null or jsonb_typeof(p_handlers) <> 'object' or p_handlers = '{}'::jsonb then
    raise exception 'Invalid projection %: handlers must be a non-empty JSON object {"event_type": "function"}', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  if p_version is null or p_version < 1 then
    raise exception 'Invalid projection %: version must be a positive integer', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;

  foreach v_table in array coalesce(p_tables, '{}') loop
    -- Before PostgreSQL 16, to_regclass raises (rather than returning null) for a name it cannot parse.
    begin
      v_rel := to_regclass(v_table);
    exception
      when syntax_error or invalid_name or invalid_text_representation then
        v_rel := null;
    end;
    if v_rel is null then
      raise exception 'Invalid projection %: table % does not exist', p_name, v_table
        using errcode = 'PE006', detail = json_build_object('projection', p_name, 'table', v_table)::text,
              hint = 'Create the read-model table before defining the projection.';
    end if;
    -- A full replay empties a projection's tables and drop_projection(p_drop_tables) drops them:
    -- never the event log or the store's own bookkeeping.
    if (select c.relnamespace from pg_class c where c.oid = v_rel) = '{{schema}}'::regnamespace then
      raise exception 'Invalid projection %: % is a table of the event store, not a read model', p_name, v_rel
        using errcode = 'PE006', detail = json_build_object('projection', p_name, 'table', v_rel::text)::text,
              hint = 'Keep read-model tables outside the store''s schema, e.g. in public.';
    end if;
    if p_stream_column is not null and not exists (
         select 1 from pg_attribute
          where attrelid = v_rel and attname = p_stream_column and not attisdropped and attnum > 0) then
      raise exception 'Invalid projection %: table % has no column % (the stream column)', p_name, v_rel, p_stream_column
        using errcode = 'PE006',
              detail = json_build_object('projection', p_name, 'table', v_rel::text, 'column', p_stream_column)::text;
    end if;
    v_tables := v_tables || (select format('%I.%I', n.nspname, c.relname)
                               from pg_class c join pg_namespace n on n.oid = c.relnamespace
                              where c.oid = v_rel);
  end loop;

  insert into {{schema}}.projections as p (name, kind, version, tables, stream_column)
  values (p_name, 'trigger', p_version, v_tables, p_stream_column)
  on conflict (name) do update
    set version = excluded.version, tables = excluded.tables, stream_column = excluded.stream_column,
        defined_at = statement_timestamp();
  delete from {{schema}}.projection_handlers where projection = p_name;

  for v_handler in select key as event_type, value from jsonb_each(p_handlers) loop
    if jsonb_typeof(v_handler.value) <> 'string' then
      raise exception 'Invalid projection %: the handler for event type % must be a function name', p_name, v_handler.event_type
        using errcode = 'PE006', detail = json_build_object('projection', p_name, 'type', v_handler.event_type)::text;
    end if;
    if v_handler.event_type !~ '^[A-Za-z_][A-Za-z0-9_.:/-]{0,199}$' then
      raise exception 'Invalid projection %: % is not a valid event type', p_name, v_handler.event_type
        using errcode = 'PE006', detail = json_build_object('projection', p_name, 'type', v_handler.event_type)::text,
              hint = 'Event types start with a letter or _, then letters, digits, or _ . : / -, at most 200 characters.';
    end if;
    select * into v_resolved from {{schema}}.resolve_handler(p_name, v_handler.event_type, v_handler.value #>> '{}');
    insert into {{schema}}.projection_handlers (projection, event_type, handler, takes_event)
    select p_name, v_handler.event_type,
           format('%I.%I(%s)', n.nspname, f.proname, oidvectortypes(f.proargtypes)), v_resolved.takes_event
      from pg_proc f join pg_namespace n on n.oid = f.pronamespace
     where f.oid = v_resolved.handler;
    -- Handlers are called by the projection's trigger, never directly: nobody else may call them
    -- (a writer calling a security-definer handler could forge read-model rows).
    if exists (select 1 from pg_proc f where f.oid = v_resolved.handler and pg_has_role(f.proowner, 'USAGE')) then
      execute format('revoke execute on function %s from public', v_resolved.handler);
    end if;
  end loop;

  perform {{schema}}.generate_projection_code(p_name);
  perform {{schema}}.grant_projection_reads(p_name);
end;
$$;

-- Drop a projection: its trigger, its generated functions and its registry entry. Read-model
-- tables are kept unless p_drop_tables; a materialized view projection drops its view.
create function {{schema}}.drop_projection(p_name text, p_drop_tables boolean default false) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_table text;
begin
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  if v_projection.kind = 'materialized_view' then
    execute format('drop materialized view if exists %s', v_projection.tables[1]);
  else
    execute format('drop trigger if exists %I on {{schema}}.events', 'project_' || p_name);
    execute format('drop function if exists {{schema}}.%I()', 'tg_events__project_' || p_name);
    execute format('drop function if exists {{schema}}.%I(bigint, int, uuid, text[])', 'projection_apply__' || p_name);
    if p_drop_tables then
      foreach v_table in array v_projection.tables loop
        if to_regclass(v_table) is not null then
          execute format('drop table %s', to_regclass(v_table));
        end if;
      end loop;
    end if;
  end if;
  delete from projections where name = p_name;
end;
$$;

-- First half of a replay: check, lock the projection against concurrent appends of its event
-- types, clear what will be rebuilt, and return how many events will be applied. Then call
-- replay_step until it applies nothing, in the same transaction.
-- Clearing: with no filter, every table of the projection is emptied; with only p_stream, that
-- stream's rows (by the projection's stream column) are deleted; with p_types or p_from_position,
-- nothing is cleared and the handlers are simply run again over those events.
create function {{schema}}.replay_start(
  p_name text,
  p_stream uuid default null,
  p_types text[] default null,
  p_from_position bigint default null
) returns bigint
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_handled text[];
  v_table text;
  v_total bigint;
begin
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  if v_projection.kind <> 'trigger' then
    raise exception 'Projection % is a materialized view: refresh it instead of replaying it', p_name
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = format('select {{schema}}.refresh_materialized_view(%L)', p_name);
  end if;
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'Replay of % needs READ COMMITTED isolation, not %', p_name, current_setting('transaction_isolation')
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = 'Run the replay in its own READ COMMITTED transaction, so that it sees every committed append.';
  end if;
  if p_from_position is not null and p_from_position < 1 then
    raise exception 'Invalid replay of %: from position must be at least 1, not %', p_name, p_from_position
      using errcode = 'PE003', detail = json_build_object('projection', p_name, 'field', 'from_position')::text;
  end if;
  if p_stream is not null and p_types is null and p_from_position is null
     and v_projection.stream_column is null and cardinality(v_projection.tables) > 0 then
    raise exception 'Projection % cannot replay one stream: it declares no stream column', p_name
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = 'Define the projection again with p_stream_column, the column of its tables that holds the stream uuid.';
  end if;

  perform pg_advisory_xact_lock(1885824374, projection_lock_key(p_name));

  if p_types is null and p_from_position is null then
    if p_stream is null then
      if cardinality(v_projection.tables) > 0 then
        execute 'truncate ' || (select string_agg(to_regclass(t)::text, ', ') from unnest(v_projection.tables) t)
                || ' restart identity';
      end if;
    else
      foreach v_table in array v_projection.tables loop
        execute format('delete from %s where %I = $1', to_regclass(v_table), v_projection.stream_column)
          using p_stream;
      end loop;
    end if;
  end if;

  select array_agg(event_type) into v_handled from projection_handlers where projection = p_name;
  select count(*) into v_total
    from events
   where type = any(v_handled)
     and (p_types is null or type = any(p_types))
     and (p_stream is null or uuid = p_stream)
     and id >= coalesce(p_from_position, 1);

  update projections set last_replayed_at = statement_timestamp() where name = p_name;
  return v_total;
end;
$$;

-- Apply the next at most p_limit events of a replay begun with replay_start, after position p_after.
create function {{schema}}.replay_step(
  p_name text,
  p_after bigint,
  p_limit int,
  p_stream uuid default null,
  p_types text[] default null,
  out applied bigint,
  out last_position bigint
)
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  if not exists (select 1 from projections where name = p_name and kind = 'trigger') then
    perform raise_unknown_projection(p_name);
  end if;
  execute format('select applied, last_position from {{schema}}.%I($1, $2, $3, $4)', 'projection_apply__' || p_name)
    into applied, last_position
    using p_after, p_limit, p_stream, p_types;
end;
$$;

-- Replay a projection in one call: re-apply the stored events through its handlers, atomically.
-- See replay_start for what each filter clears. Returns the number of events applied.
create function {{schema}}.replay_projection(
  p_name text,
  p_stream uuid default null,
  p_types text[] default null,
  p_from_position bigint default null
) returns bigint
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_step record;
  v_after bigint := coalesce(p_from_position, 1) - 1;
  v_applied bigint := 0;
begin
  perform replay_start(p_name, p_stream, p_types, p_from_position);
  loop
    select * into v_step from replay_step(p_name, v_after, 10000, p_stream, p_types);
    exit when v_step.applied = 0;
    v_applied := v_applied + v_step.applied;
    v_after := v_step.last_position;
  end loop;
  return v_applied;
end;
$$;

-- A materialized view over the events is a second kind of projection.
-- p_unique_columns: when given, a unique index on them lets refreshes run concurrently.
-- The view is created in p_schema, else the caller's current schema (this function does not pin
-- search_path, so the query sees what the caller sees).
create function {{schema}}.define_materialized_view(
  p_name text,
  p_query text,
  p_unique_columns text[] default null,
  p_schema text default null
) returns void
language plpgsql
as $$
declare
  v_schema text := coalesce(p_schema, current_schema());
  v_relation text;
begin
  if p_name is null or p_name !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'Invalid materialized view name: %', coalesce(p_name, 'null')
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = 'Use 1 to 40 characters: a lowercase letter, then lowercase letters, digits or _.';
  end if;
  if exists (select 1 from {{schema}}.projections where name = p_name) then
    raise exception 'Invalid materialized view %: a projection with this name exists', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = format('Drop it first: select {{schema}}.drop_projection(%L)', p_name);
  end if;
  if p_query is null or btrim(p_query) = '' then
    raise exception 'Invalid materialized view %: the query is empty', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  v_relation := format('%I.%I', v_schema, p_name);
  execute format('create materialized view %s as %s', v_relation, p_query);
  if p_unique_columns is not null and cardinality(p_unique_columns) > 0 then
    execute format('create unique index %I on %s (%s)', p_name || '_unique_key', v_relation,
                   (select string_agg(format('%I', c), ', ') from unnest(p_unique_columns) c));
  end if;
  insert into {{schema}}.projections (name, kind, tables, view_query, last_refreshed_at, refreshed_position)
  values (p_name, 'materialized_view', array[v_relation], p_query, statement_timestamp(),
          (select max(id) from {{schema}}.events));
  perform {{schema}}.grant_projection_reads(p_name);
end;
$$;

-- Refresh a materialized view projection; concurrently (readers are not blocked) when it has a
-- unique index and is populated. Returns true when the refresh ran concurrently.
create function {{schema}}.refresh_materialized_view(p_name text) returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_rel regclass;
  v_concurrently boolean;
begin
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  if v_projection.kind <> 'materialized_view' then
    raise exception 'Projection % is not a materialized view: replay it instead', p_name
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = format('select {{schema}}.replay_projection(%L)', p_name);
  end if;
  v_rel := to_regclass(v_projection.tables[1]);
  if v_rel is null then
    raise exception 'Materialized view % of projection % no longer exists', v_projection.tables[1], p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = format('Drop the projection and define it again: select {{schema}}.drop_projection(%L)', p_name);
  end if;
  v_concurrently := exists (select 1 from pg_index where indrelid = v_rel and indisunique and indpred is null)
                    and (select relispopulated from pg_class where oid = v_rel);
  execute format('refresh materialized view %s %s',
                 case when v_concurrently then 'concurrently' else '' end, v_rel);
  update projections
     set last_refreshed_at = statement_timestamp(), refreshed_position = (select max(id) from events)
   where name = p_name;
  return v_concurrently;
end;
$$;

-- Every stored event type with its count and the projections that handle it; an event type with
-- no handler is reported here (the seed itself mixed up user_update and update_user).
create view {{schema}}.event_types as
  select e.type,
         count(*) as events,
         max(e.id) as last_position,
         coalesce((select array_agg(h.projection order by h.projection)
                     from {{schema}}.projection_handlers h where h.event_type = e.type), '{}') as handled_by
    from {{schema}}.events e
   group by e.type;
