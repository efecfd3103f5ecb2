-- Define (or redefine) a trigger projection.
-- p_handlers: {"event_type": "schema.function", ...}; each function takes (uuid, jsonb), the
--   whole event row ({{schema}}.events), or a batch of them ({{schema}}.events[]), and pins its
--   own search_path.
-- p_tables: the read-model tables the projection owns (emptied by a full replay).
-- p_stream_column: the column of those tables that holds the stream uuid (needed to replay one stream).
-- p_version: the version of the handlers' code. A first definition is taken as built with it
--   unless events of its types are already stored (then its tables do not reflect them yet); a
--   redefinition with another version leaves the tables as they are and marks the projection as
--   needing a rebuild (projection_health.state = 'needs rebuild').
-- p_rebuild_sql: optional statement(s) that fill the projection's empty tables from the events in
--   one go (e.g. insert … select distinct on …), used by rebuilds and verify instead of the
--   handlers (the fast path). Table names written unqualified resolve to the tables being built;
--   other names resolve with the search_path of this call. Null: rebuilds use the handlers.
-- Function and table names resolve with the caller's search_path (this function does not pin one)
-- and are stored schema-qualified.
create or replace function {{schema}}.define_projection(
  p_name text,
  p_handlers jsonb,
  p_tables text[] default '{}',
  p_stream_column text default null,
  p_version int default 1,
  p_rebuild_sql text default null
) returns void
language plpgsql
as $$
declare
  v_handler record;
  v_resolved record;
  v_table text;
  v_tables text[] := '{}';
  v_rel regclass;
  v_existed boolean := exists (select 1 from {{schema}}.projections where name = p_name);
begin
  if p_rebuild_sql is not null and btrim(p_rebuild_sql) = '' then
    raise exception 'Invalid projection %: the rebuild statement is empty', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = 'Pass null for no rebuild statement.';
  end if;
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
  update {{schema}}.projections p
     set rebuild_sql = p_rebuild_sql,
         rebuild_search_path = case when p_rebuild_sql is null then null else current_setting('search_path') end,
         built_version = case
           when v_existed then p.built_version
           when exists (select 1 from {{schema}}.events e
                         where e.type in (select h.event_type from {{schema}}.projection_handlers h
                                           where h.projection = p_name)) then null
           else p_version end
   where p.name = p_name;
end;
$$;

