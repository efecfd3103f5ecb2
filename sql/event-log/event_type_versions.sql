-- Versions of event types: upcasters, the validations of declared types, the events' current shape.
--
-- An event records the version of its type's body shape (type_version). define_upcaster says how
-- a body of (type, n) becomes (type, n + 1), or, for a type that is renamed, (another type, its
-- current version). Stored rows never change: current_events (and every read, replay and rebuild,
-- which read it) hands out each event in its current shape, and an append of an older version is
-- upcast before it is stored (or refused, as its type says), so that the projections' triggers
-- see the current shape too.
--
-- The upcasters' and the validations' calls are generated (generate_event_type_code) as plain
-- plpgsql, planned once per session, rather than run as dynamic SQL for every event.

-- The function (schema-qualified, with its argument type) that p_name names: one that takes a jsonb
-- body, returns p_returns and is not volatile (reads must hand out the same shape every time).
create or replace function {{schema}}.resolve_body_function(p_name text, p_returns regtype, p_what text) returns text
language plpgsql
stable
as $$
declare
  v_oid oid;
  v_function record;
begin
  begin
    v_oid := to_regprocedure(case when p_name like '%(%' then p_name else p_name || '(jsonb)' end);
  exception
    when syntax_error or invalid_name or invalid_text_representation then
      v_oid := null;
  end;
  select f.oid, f.prorettype, f.provolatile, f.pronargs, f.proargtypes, n.nspname, f.proname into v_function
    from pg_proc f join pg_namespace n on n.oid = f.pronamespace
   where f.oid = v_oid;
  if not found or v_function.pronargs <> 1 or v_function.proargtypes[0] <> 'jsonb'::regtype
     or v_function.prorettype <> p_returns then
    raise exception 'Invalid %: % is not a function (jsonb) returns %', p_what, coalesce(p_name, 'null'), p_returns
      using errcode = 'PE025', detail = json_build_object('field', 'function', 'function', p_name)::text,
            hint = format('Create it first: create function %s(body jsonb) returns %s language sql immutable as ...', coalesce(p_name, 'name'), p_returns);
  end if;
  if v_function.provolatile = 'v' then
    raise exception 'Invalid %: % is volatile; mark it immutable (or stable), since it must give the same answer every time', p_what, p_name
      using errcode = 'PE025', detail = json_build_object('field', 'function', 'function', p_name)::text,
            hint = format('alter function %I.%I(jsonb) immutable;', v_function.nspname, v_function.proname);
  end if;
  return format('%I.%I(jsonb)', v_function.nspname, v_function.proname);
end;
$$;

-- Declares how a body of (p_type, p_from_version) becomes the next shape: p_function (jsonb)
-- returns jsonb. Without p_to_type, into version p_from_version + 1 of the same type; an upcaster
-- from the type's current version moves the type to that version. With p_to_type (a declared type,
-- another one), into that type's current version: the type is renamed, and its events (stored and
-- appended) are read as the other type. Upcasters go up one version at a time from version 1 (no
-- gaps), a renamed type takes no later versions, and no chain of renames comes back to where it
-- began. Redefining an upcaster replaces its function; an undeclared p_type is declared at
-- p_from_version first. Returns the upcaster's row.
create or replace function {{schema}}.define_upcaster(p_type text, p_from_version int, p_function text, p_to_type text default null)
returns {{schema}}.event_upcasters
language plpgsql
as $$
declare
  v_declared {{schema}}.event_type_declarations;
  v_target {{schema}}.event_type_declarations;
  v_function text;
  v_existing {{schema}}.event_upcasters;
  v_row {{schema}}.event_upcasters;
  v_seen text[];
  v_next text;
begin
  select * into v_declared from {{schema}}.event_type_declarations d where d.type = p_type for update;
  if not found and p_from_version >= 1 then
    -- An undeclared type is declared at the upcaster's version, so that a setup script that defines
    -- the upcaster first runs alike on a fresh store and on one with stored events.
    v_declared := {{schema}}.define_event_type(p_type, p_from_version);
  end if;
  if p_from_version is null or p_from_version < 1 or p_from_version > v_declared.version then
    raise exception 'Invalid upcaster of event type %: from version % (the type is at version %; upcasters start at a version it has had)', p_type, coalesce(p_from_version::text, 'null'), v_declared.version
      using errcode = 'PE025', detail = json_build_object('field', 'from_version', 'type', p_type, 'current', v_declared.version)::text;
  end if;
  v_function := {{schema}}.resolve_body_function(p_function, 'jsonb', format('upcaster of event type %s from version %s', p_type, p_from_version));
  select * into v_existing from {{schema}}.event_upcasters u where u.type = p_type and u.from_version = p_from_version;

  if p_to_type is null or p_to_type = p_type then
    if exists (select 1 from {{schema}}.event_upcasters u where u.type = p_type and u.to_type <> p_type) then
      raise exception 'Invalid upcaster of event type %: the type is renamed, it takes no later versions', p_type
        using errcode = 'PE025', detail = json_build_object('field', 'to_type', 'type', p_type)::text;
    end if;
    if p_from_version = v_declared.version then
      update {{schema}}.event_type_declarations d set version = p_from_version + 1 where d.type = p_type;
    end if;
    insert into {{schema}}.event_upcasters as u (type, from_version, function, to_type, to_version, final_type, final_version)
    values (p_type, p_from_version, v_function, p_type, p_from_version + 1, p_type, p_from_version + 1)
    on conflict (type, from_version) do update set function = excluded.function, defined_at = statement_timestamp()
    returning * into v_row;
  else
    select * into v_target from {{schema}}.event_type_declarations d where d.type = p_to_type;
    if not found then
      raise exception 'Invalid upcaster of event type %: % is not a declared type', p_type, p_to_type
        using errcode = 'PE025', detail = json_build_object('field', 'to_type', 'type', p_type, 'to_type', p_to_type)::text,
              hint = 'Declare the new type first: define_event_type.';
    end if;
    if p_from_version <> v_declared.version or (v_existing.type is not null and v_existing.to_type <> p_to_type) then
      raise exception 'Invalid upcaster of event type %: a type is renamed from its current version (%), once', p_type, v_declared.version
        using errcode = 'PE025', detail = json_build_object('field', 'from_version', 'type', p_type, 'current', v_declared.version)::text;
    end if;
    v_seen := array[p_type];
    v_next := p_to_type;
    while v_next is not null loop
      if v_next = any(v_seen) then
        raise exception 'Invalid upcaster of event type %: renaming it to % makes a cycle (%)', p_type, p_to_type, array_to_string(v_seen || v_next, ' → ')
          using errcode = 'PE025', detail = json_build_object('field', 'to_type', 'type', p_type, 'to_type', p_to_type)::text;
      end if;
      v_seen := v_seen || v_next;
      select u.to_type into v_next from {{schema}}.event_upcasters u where u.type = v_next and u.to_type <> u.type limit 1;
      if not found then
        v_next := null;
      end if;
    end loop;
    insert into {{schema}}.event_upcasters as u (type, from_version, function, to_type, to_version, final_type, final_version)
    values (p_type, p_from_version, v_function, p_to_type, v_target.version, p_to_type, v_target.version)
    on conflict (type, from_version) do update set function = excluded.function, defined_at = statement_timestamp()
    returning * into v_row;
  end if;

  perform {{schema}}.generate_event_type_code();
  select * into v_row from {{schema}}.event_upcasters u where u.type = p_type and u.from_version = p_from_version;
  return v_row;
end;
$$;

-- Where each upcaster's chain ends (final_type, final_version): follows upcasters until none
-- applies. Run after every change of upcasters or declared versions.
create or replace function {{schema}}.refresh_upcaster_chains() returns void
language sql
set search_path = {{schema}}, pg_temp
as $$
  with recursive chain (type, from_version, at_type, at_version, depth) as (
    select u.type, u.from_version, u.to_type, u.to_version, 1 from event_upcasters u
    union all
    select c.type, c.from_version, u.to_type, u.to_version, c.depth + 1
      from chain c join event_upcasters u on u.type = c.at_type and u.from_version = c.at_version
     where c.depth < 1000
  ), ends as (
    select distinct on (c.type, c.from_version) c.type, c.from_version, c.at_type, c.at_version
      from chain c order by c.type, c.from_version, c.depth desc
  )
  update event_upcasters u set final_type = e.at_type, final_version = e.at_version
    from ends e
   where e.type = u.type and e.from_version = u.from_version
     and (u.final_type, u.final_version) is distinct from (e.at_type, e.at_version);
$$;

-- Generates upcast_body and check_event_body from the upcasters and declarations, and makes the
-- events table's row trigger (events_type_version) fire for every row while any type has a
-- version above 1, a validation or an upcaster; otherwise only for rows that state a version.
create or replace function {{schema}}.generate_event_type_code() returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_upcasts text;
  v_checks text;
  v_every_row boolean;
begin
  perform refresh_upcaster_chains();
  select string_agg(format(E'\n      when p_type = %L and p_version = %s then\n        p_body := %s(p_body);\n        p_type := %L;\n        p_version := %s;',
                           u.type, u.from_version, split_part(u.function, '(', 1), u.to_type, u.to_version),
                    '' order by u.type, u.from_version)
    into v_upcasts
    from event_upcasters u;
  execute format($f$
create or replace function {{schema}}.upcast_body(p_type text, p_version int, p_body jsonb) returns jsonb
language plpgsql
stable
security definer
set search_path = {{schema}}, pg_temp
as %L
$f$, format($code$
begin
  for i in 1..1000 loop
    case%s
      else
        return p_body;
    end case;
  end loop;
  raise exception 'Upcaster chain of event type %% is longer than 1000 steps', p_type using errcode = 'PE025';
end;
$code$, coalesce(v_upcasts, E'\n      when false then null;')));

  select string_agg(format(E'\n    when %L then%s%s', d.type,
                           case when d.required_fields is null then '' else format(
                             E'\n      if not (p_body ?& %L::text[]) then\n        return format(''missing required field(s): %%s'', '
                             'array_to_string(array(select f from unnest(%L::text[]) f where not p_body ? f), '', ''));\n      end if;',
                             d.required_fields, d.required_fields) end,
                           case when d.check_function is null then '' else format(
                             E'\n      if %s(p_body) is not true then\n        return %L;\n      end if;',
                             split_part(d.check_function, '(', 1), format('%s refused it', d.check_function)) end),
                    '' order by d.type)
    into v_checks
    from event_type_declarations d
   where d.required_fields is not null or d.check_function is not null;
  execute format($f$
create or replace function {{schema}}.check_event_body(p_type text, p_body jsonb) returns text
language plpgsql
stable
security definer
set search_path = {{schema}}, pg_temp
as %L
$f$, format($code$
begin
  case p_type%s
    else null;
  end case;
  return null;
end;
$code$, coalesce(v_checks, E'\n    when null then null;')));
  revoke all on function upcast_body(text, int, jsonb), check_event_body(text, jsonb) from public;

  v_every_row := exists (select 1 from event_type_declarations d
                          where d.version > 1 or d.required_fields is not null or d.check_function is not null)
                 or exists (select 1 from event_upcasters);
  if not exists (select 1 from pg_trigger t
                  where t.tgrelid = '{{schema}}.events'::regclass and t.tgname = 'events_type_version'
                    and (t.tgqual is null) = v_every_row) then
    execute format('create or replace trigger events_type_version before insert on {{schema}}.events for each row %s '
                   'execute function {{schema}}.tg_events__type_version()',
                   case when v_every_row then '' else 'when (new.type_version is not null)' end);
  end if;
end;
$$;

-- Before each row inserted into events (see generate_event_type_code for when it fires): the
-- type's current version for a row that states none; a stated version must be one the type has
-- had; an older one is upcast (or refused, as its type says); then the type's validation.
create or replace function {{schema}}.tg_events__type_version() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_declared event_type_declarations;
  v_upcaster event_upcasters;
  v_problem text;
begin
  -- A row moved between the live and the archived part of the log (set_stream_archived) is stored
  -- already: not checked, upcast or encrypted again. The setting is trusted only there: an INSERT
  -- while it is set is refused by tg_events__after_insert.
  if coalesce(current_setting('pgevents.archive_{{schema}}', true), '') <> '' then
    return new;
  end if;
  select * into v_declared from event_type_declarations d where d.type = new.type;
  if new.type_version is null then
    new.type_version := coalesce(v_declared.version, 1);
  elsif new.type_version < 1 or new.type_version > coalesce(v_declared.version, 1) then
    raise exception 'Unknown version % of event type % (Stream: %): its current version is %', new.type_version, new.type, new.uuid, coalesce(v_declared.version, 1)
      using errcode = 'PE003',
            detail = json_build_object('stream', new.uuid, 'field', 'type_version', 'type', new.type, 'current', coalesce(v_declared.version, 1))::text,
            hint = 'Leave the version out to append the current one.';
  end if;
  select * into v_upcaster from event_upcasters u where u.type = new.type and u.from_version = new.type_version;
  if found then
    if v_declared.old_versions = 'refuse' then
      raise exception 'Old version % of event type % (Stream: %): this type refuses versions before %', new.type_version, new.type, new.uuid, v_upcaster.final_version
        using errcode = 'PE003',
              detail = json_build_object('stream', new.uuid, 'field', 'type_version', 'type', new.type,
                                         'current_type', v_upcaster.final_type, 'current', v_upcaster.final_version)::text,
              hint = format('Append %s version %s.', v_upcaster.final_type, v_upcaster.final_version);
    end if;
    new.body := upcast_body(new.type, new.type_version, new.body);
    new.type := v_upcaster.final_type;
    new.type_version := v_upcaster.final_version;
    select * into v_declared from event_type_declarations d where d.type = new.type;
  end if;
  if v_declared.required_fields is not null or v_declared.check_function is not null then
    v_problem := check_event_body(new.type, new.body);
    if v_problem is not null then
      raise exception 'Invalid event of type % (Stream: %): %', new.type, new.uuid, v_problem
        using errcode = 'PE003',
              detail = json_build_object('stream', new.uuid, 'field', 'body', 'type', new.type)::text,
              hint = 'The store''s declaration of the type (event_type_declarations) says what its body needs.';
    end if;
  end if;
  return new;
end;
$$;

-- The types whose stored events read as one of p_types: p_types and every type an upcaster chain
-- leads from into one of them. Lets a read by type use the index on the stored type (computed
-- before the query, so that the planner sees the types and estimates their rows).
create or replace function {{schema}}.upcast_sources(p_types text[]) returns text[]
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select case when p_types is null then null
              else p_types || array(select distinct u.type from event_upcasters u
                                     where u.final_type = any(p_types) and u.type <> all(p_types)) end;
$$;

-- Whether events stored as p_types read as they are stored (no upcaster and no personal data
-- declaration applies), and no other type reads as one of them: then a read by these types may take the events table's rows as they are.
create or replace function {{schema}}.types_read_as_stored(p_types text[]) returns boolean
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select (p_types is null and not exists (select 1 from event_upcasters)
          or p_types is not null and not exists (select 1 from event_upcasters u where u.type = any(p_types) or u.final_type = any(p_types)))
     and not exists (select 1 from personal_data_declarations d where p_types is null or d.type = any(upcast_sources(p_types)));
$$;

select {{schema}}.generate_event_type_code();

-- Every event in its current shape: a stored row that an upcaster applies to is read through its
-- chain (type, body and type_version); the others as they are (type_version 1 where none was
-- recorded), with the personal fields of declared types decrypted for roles that may
-- (reveal_personal_data, sql/personal-data/personal_data.sql). stored_type and stored_type_version are the row's own, for the index on the type.
-- Without upcasters, each row costs a probe of an empty hash.
create or replace view {{schema}}.current_events as
  select e.id, e.uuid, e.version,
         case when (e.type, coalesce(e.type_version, 1)) in (select u.type, u.from_version from {{schema}}.event_upcasters u)
              then (select u.final_type from {{schema}}.event_upcasters u
                     where u.type = e.type and u.from_version = coalesce(e.type_version, 1))
              else e.type end as type,
         case when (e.type, coalesce(e.type_version, 1)) in (select u.type, u.from_version from {{schema}}.event_upcasters u)
              then {{schema}}.upcast_body(e.type, coalesce(e.type_version, 1),
                                          case when e.type in (select d.type from {{schema}}.personal_data_declarations d)
                                               then {{schema}}.reveal_personal_data(e.type, e.body) else e.body end)
              when e.type in (select d.type from {{schema}}.personal_data_declarations d)
              then {{schema}}.reveal_personal_data(e.type, e.body)
              else e.body end as body,
         e.metadata, e.event_id, e.inserted_at, e.transaction_id,
         case when (e.type, coalesce(e.type_version, 1)) in (select u.type, u.from_version from {{schema}}.event_upcasters u)
              then (select u.final_version from {{schema}}.event_upcasters u
                     where u.type = e.type and u.from_version = coalesce(e.type_version, 1))
              else coalesce(e.type_version, 1) end as type_version,
         e.type as stored_type,
         coalesce(e.type_version, 1) as stored_type_version,
         e.archived,
         e.tenant
    from {{schema}}.events e;

comment on view {{schema}}.current_events is 'Every event in its current shape (upcast through define_upcaster chains); stored_type and stored_type_version are as stored.';
