-- Resolve a projection's handler for an event type: a function of (uuid, jsonb), of the event row
-- ({{schema}}.events), or of a batch of event rows ({{schema}}.events[]).
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
