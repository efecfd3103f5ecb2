-- Declared event types: define_event_type, drop_event_type, the strict mode that refuses appends
-- of undeclared types, and the suggestion of the closest declared type in its error.

-- Declares an event type (or changes its version and description); returns its row.
create or replace function {{schema}}.define_event_type(p_type text, p_version int default 1, p_description text default null)
returns {{schema}}.event_type_declarations
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_row event_type_declarations;
begin
  if p_type is null or p_type !~ '^[A-Za-z_][A-Za-z0-9_.:/-]*$' or char_length(p_type) > 200 then
    raise exception 'Invalid event type: % (use a letter or _, then letters, digits, or _ . : / -, at most 200 characters)', coalesce(p_type, 'null')
      using errcode = 'PE003', detail = json_build_object('field', 'type')::text;
  end if;
  if p_version is null or p_version < 1 then
    raise exception 'Invalid version of event type %: % (versions start at 1)', p_type, coalesce(p_version::text, 'null')
      using errcode = 'PE003', detail = json_build_object('field', 'version')::text;
  end if;
  insert into event_type_declarations as d (type, version, description)
  values (p_type, p_version, p_description)
  on conflict (type) do update set version = excluded.version, description = excluded.description
  returning * into v_row;
  return v_row;
end;
$$;

-- Forgets a declared type (its stored events stay); returns whether it was declared.
create or replace function {{schema}}.drop_event_type(p_type text) returns boolean
language sql
set search_path = {{schema}}, pg_temp
as $$
  with dropped as (delete from event_type_declarations where type = p_type returning 1)
  select exists (select 1 from dropped);
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
