-- Declared event types: define_event_type, drop_event_type, the strict mode that refuses appends
-- of undeclared types, and the suggestion of the closest declared type in its error.

-- Declares an event type (or changes its declaration); returns its row. Function names resolve
-- with the caller's search_path (this function pins none) and are stored schema-qualified.
-- p_version: the version of the type's body shape. It only goes up, and only while no event of the
--   type is stored: a store with events of the type moves it to the next version with
--   define_upcaster (event_type_versions.sql), which says how to turn the stored bodies into it.
-- p_required_fields: top-level body fields every appended event of the type must have.
-- p_check_function: a function (jsonb) returns boolean that every appended body must pass.
-- p_old_versions: what an append of an older version of the type gets: 'upcast' (stored in the
--   current shape) or 'refuse' (PE003).
create or replace function {{schema}}.define_event_type(
  p_type text,
  p_version int default 1,
  p_description text default null,
  p_required_fields text[] default null,
  p_check_function text default null,
  p_old_versions text default 'upcast'
)
returns {{schema}}.event_type_declarations
language plpgsql
as $$
declare
  v_row {{schema}}.event_type_declarations;
  v_current int;
  v_check text;
begin
  if p_type is null or p_type !~ '^[A-Za-z_][A-Za-z0-9_.:/-]*$' or char_length(p_type) > 200 then
    raise exception 'Invalid event type: % (use a letter or _, then letters, digits, or _ . : / -, at most 200 characters)', coalesce(p_type, 'null')
      using errcode = 'PE003', detail = json_build_object('field', 'type')::text;
  end if;
  if p_version is null or p_version < 1 then
    raise exception 'Invalid version of event type %: % (versions start at 1)', p_type, coalesce(p_version::text, 'null')
      using errcode = 'PE003', detail = json_build_object('field', 'version')::text;
  end if;
  if p_old_versions is null or p_old_versions not in ('upcast', 'refuse') then
    raise exception 'Invalid setting for old versions of event type %: % (use upcast or refuse)', p_type, coalesce(p_old_versions, 'null')
      using errcode = 'PE003', detail = json_build_object('field', 'old_versions')::text;
  end if;
  if p_required_fields is not null and (cardinality(p_required_fields) = 0 or array_position(p_required_fields, null) is not null) then
    raise exception 'Invalid required fields of event type %: name at least one field, and no null', p_type
      using errcode = 'PE003', detail = json_build_object('field', 'required_fields')::text,
            hint = 'Pass null for no required fields.';
  end if;
  if p_check_function is not null then
    v_check := {{schema}}.resolve_body_function(p_check_function, 'boolean', 'check function of event type ' || p_type);
  end if;

  select d.version into v_current from {{schema}}.event_type_declarations d where d.type = p_type for update;
  if v_current > p_version then
    raise exception 'Invalid version of event type %: % is below its current version % (versions only go up)', p_type, p_version, v_current
      using errcode = 'PE003', detail = json_build_object('field', 'version', 'type', p_type, 'current', v_current)::text;
  end if;
  if p_version > coalesce(v_current, 1) and exists (select 1 from {{schema}}.events e where e.type = p_type) then
    raise exception 'Events of type % are stored at version %: say how their bodies become version % first', p_type, coalesce(v_current, 1), coalesce(v_current, 1) + 1
      using errcode = 'PE003', detail = json_build_object('field', 'version', 'type', p_type, 'current', coalesce(v_current, 1))::text,
            hint = format('define_upcaster(%L, %s, ''<function (jsonb) returns jsonb>'') moves the type to version %s.',
                          p_type, coalesce(v_current, 1), coalesce(v_current, 1) + 1);
  end if;
  insert into {{schema}}.event_type_declarations as d (type, version, description, required_fields, check_function, old_versions)
  values (p_type, p_version, p_description, p_required_fields, v_check, p_old_versions)
  on conflict (type) do update
    set version = excluded.version, description = excluded.description, required_fields = excluded.required_fields,
        check_function = excluded.check_function, old_versions = excluded.old_versions
  returning * into v_row;
  perform {{schema}}.generate_event_type_code();
  return v_row;
end;
$$;

-- Forgets a declared type (its stored events stay); returns whether it was declared. A type that an
-- upcaster turns events from or into stays: stored events need its chain.
create or replace function {{schema}}.drop_event_type(p_type text) returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_dropped boolean;
begin
  if exists (select 1 from event_upcasters u where u.type = p_type or u.to_type = p_type) then
    raise exception 'Event type % is part of an upcaster chain: stored events are read through it', p_type
      using errcode = 'PE003', detail = json_build_object('field', 'type', 'type', p_type)::text,
            hint = 'Keep the declaration; list the chains in event_upcasters.';
  end if;
  with dropped as (delete from event_type_declarations where type = p_type returning 1)
  select exists (select 1 from dropped) into v_dropped;
  perform generate_event_type_code();
  return v_dropped;
end;
$$;

-- The edit distance of two strings (insertions, deletions, substitutions): small inputs only, on
-- the error path of a strict store.
create or replace function {{schema}}.event_type_distance(p_a text, p_b text) returns int
language plpgsql
immutable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_previous int[];
  v_current int[];
  v_la int := char_length(p_a);
  v_lb int := char_length(p_b);
begin
  v_previous := array(select generate_series(0, v_lb));
  for i in 1..v_la loop
    v_current := array[i];
    for j in 1..v_lb loop
      v_current := v_current || least(v_previous[j + 1] + 1, v_current[j] + 1,
                                       v_previous[j] + case when substr(p_a, i, 1) = substr(p_b, j, 1) then 0 else 1 end);
    end loop;
    v_previous := v_current;
  end loop;
  return v_previous[v_lb + 1];
end;
$$;

-- The declared type closest to p_type: one made of the same words in another order
-- (update_user for user_update), else the one at the smallest edit distance, if that is at most a
-- third of its length; null when none is close.
create or replace function {{schema}}.closest_event_type(p_type text) returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  with wanted as (
    select (select array_agg(w order by w) from regexp_split_to_table(lower(p_type), '[_.:/-]+') w) as words
  ), candidates as (
    select d.type,
           (select array_agg(w order by w) from regexp_split_to_table(lower(d.type), '[_.:/-]+') w) = wanted.words as same_words,
           event_type_distance(lower(d.type), lower(p_type)) as distance
      from event_type_declarations d, wanted
  )
  select c.type
    from candidates c
   where c.same_words or c.distance <= greatest(1, char_length(p_type) / 3)
   order by c.same_words desc, c.distance, c.type
   limit 1;
$$;

-- A strict store's check after each INSERT or COPY into events: every type is declared. Named to
-- fire after events_after_insert and before the projections' triggers (project_*).
create or replace function {{schema}}.tg_events__check_declared_types() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_bad record;
  v_closest text;
begin
  select n.type, n.uuid, n.version into v_bad
    from new_events n
   where not exists (select 1 from event_type_declarations d where d.type = n.type)
   order by n.id
   limit 1;
  if found then
    v_closest := closest_event_type(v_bad.type);
    raise exception 'Undeclared event type: % (Stream: %, Version: %)%', v_bad.type, v_bad.uuid, v_bad.version,
                    case when v_closest is null then '' else format(' — did you mean %s?', v_closest) end
      using errcode = 'PE003',
            detail = json_build_object('stream', v_bad.uuid, 'field', 'type', 'type', v_bad.type, 'closest', v_closest)::text,
            hint = 'This store is strict: declare the type first (define_event_type), or append a declared one.';
  end if;
  return null;
end;
$$;

-- Whether the store refuses undeclared event types.
create or replace function {{schema}}.strict_event_types() returns boolean
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select exists (select 1 from pg_trigger t
                  where t.tgrelid = '{{schema}}.events'::regclass and t.tgname = 'events_declared_types');
$$;

-- Makes the store strict (appends of undeclared types are refused) or not. A trigger of its own,
-- so that a store that is not strict pays nothing for it.
create or replace function {{schema}}.set_strict_event_types(p_strict boolean) returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  if p_strict then
    if not strict_event_types() then
      create trigger events_declared_types
        after insert on events
        referencing new table as new_events
        for each statement
        execute function tg_events__check_declared_types();
    end if;
  else
    drop trigger if exists events_declared_types on events;
  end if;
  return p_strict;
end;
$$;
