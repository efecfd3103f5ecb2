-- Snapshots kept by the database: define_snapshot, drop_snapshot and the generated handler.
--
-- A snapshot is a trigger projection whose one table, {{schema}}_snapshots.<name> (stream, version,
-- state, updated_at), holds per stream the state that an SQL evolve function folds from initial
-- over the stream's events of the snapshot's types, and the version of the last event it folded.
-- Its handler runs in the appending transaction, so a snapshot is never ahead of or behind the
-- events it names; it writes the row every `every` events (counted in stream versions) and at
-- every event of on_types (the state right after it). Being a projection, it is replayed, rebuilt online (when its version changes
-- with its evolve) and checked like any other. store.aggregate and store.handle read the snapshot
-- and the newer events in one statement and fold only those.

-- Defines (or redefines) a snapshot.
-- p_evolve: a function (state jsonb, event {{schema}}.events) returns jsonb; its name resolves with
--   the caller's search_path (this function pins none).
-- p_types: the event types the state is folded from.
-- p_every: write the row once the stream is this many versions past it (1: on every event; null:
--   only on p_on_types).
-- p_on_types: also write the row on every event of these types (e.g. the end of a period).
-- p_version: the version of evolve; a redefinition with another version marks the snapshot as
--   needing a rebuild, and aggregates ignore its rows until it is rebuilt.
create or replace function {{schema}}.define_snapshot(
  p_name text,
  p_evolve text,
  p_types text[],
  p_initial jsonb default '{}',
  p_every int default 1,
  p_on_types text[] default null,
  p_version int default 1
) returns {{schema}}.snapshots
language plpgsql
as $$
declare
  v_evolve oid;
  v_evolve_name text;
  v_handlers jsonb;
  v_row {{schema}}.snapshots;
begin
  if p_name is null or p_name !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'Invalid snapshot name: %', coalesce(p_name, 'null')
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = 'Use 1 to 40 characters: a lowercase letter, then lowercase letters, digits or _.';
  end if;
  if exists (select 1 from {{schema}}.projections p where p.name = p_name)
     and not exists (select 1 from {{schema}}.snapshots s where s.name = p_name) then
    raise exception 'Invalid snapshot %: a projection that is not a snapshot has this name', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  if p_types is null or cardinality(p_types) = 0 or array_position(p_types, null) is not null then
    raise exception 'Invalid snapshot %: name the event types its state is folded from', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name, 'field', 'types')::text;
  end if;
  if p_every is not null and p_every < 1 or p_every is null and p_on_types is null then
    raise exception 'Invalid snapshot %: write it every n >= 1 events, or on chosen event types, or both', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name, 'field', 'every')::text;
  end if;
  if p_initial is null then
    raise exception 'Invalid snapshot %: the initial state must be a JSON value, not null', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name, 'field', 'initial')::text;
  end if;
  begin
    v_evolve := to_regprocedure(case when p_evolve like '%(%' then p_evolve else p_evolve || '(jsonb, {{schema}}.events)' end);
  exception
    when syntax_error or invalid_name or invalid_text_representation then
      v_evolve := null;
  end;
  if v_evolve is null or not exists (
       select 1 from pg_proc f
        where f.oid = v_evolve and f.pronargs = 2 and f.proargtypes[0] = 'jsonb'::regtype
          and f.proargtypes[1] = '{{schema}}.events'::regtype and f.prorettype = 'jsonb'::regtype) then
    raise exception 'Invalid snapshot %: % is not a function (state jsonb, event {{schema}}.events) returns jsonb', p_name, coalesce(p_evolve, 'null')
      using errcode = 'PE006', detail = json_build_object('projection', p_name, 'field', 'evolve')::text,
            hint = 'Create it first: create function <name>(state jsonb, event {{schema}}.events) returns jsonb ...';
  end if;
  select format('%I.%I', n.nspname, f.proname) into v_evolve_name
    from pg_proc f join pg_namespace n on n.oid = f.pronamespace where f.oid = v_evolve;

  execute format('create table if not exists {{schema}}_snapshots.%I ('
                 'stream uuid primary key, version bigint not null, state jsonb not null, '
                 'updated_at timestamptz not null default statement_timestamp())', p_name);
  execute format('comment on table {{schema}}_snapshots.%I is %L', p_name,
                 format('Snapshot %s: per stream, the state %s folds from the events of %s, and the version it reflects.',
                        p_name, v_evolve_name, array_to_string(p_types, ', ')));
  perform {{schema}}.generate_snapshot_handler(p_name, v_evolve_name, p_types, p_initial, p_every, p_on_types);

  select jsonb_object_agg(t, format('{{schema}}_snapshots.%I', 'snapshot__' || p_name)) into v_handlers
    from unnest(p_types) t;
  perform {{schema}}.define_projection(p_name, v_handlers, array[format('{{schema}}_snapshots.%I', p_name)], 'stream', p_version);
  insert into {{schema}}.snapshots as s (name, evolve, types, initial, every, on_types)
  values (p_name, v_evolve_name || '(jsonb, {{schema}}.events)', p_types, p_initial, p_every, p_on_types)
  on conflict (name) do update
    set evolve = excluded.evolve, types = excluded.types, initial = excluded.initial, every = excluded.every,
        on_types = excluded.on_types, defined_at = statement_timestamp()
  returning * into v_row;
  return v_row;
end;
$$;

-- The batch handler of a snapshot: per stream of the batch, first the version the row is to be
-- written at: the batch's last event when the stream is `every` versions past the row, else the
-- batch's last event of on_types, else none (and then nothing is read or folded: a statement
-- between two snapshots costs one lookup of the row). Then the stored state (or initial) folded
-- over the stream's events of the snapshot's types up to that version: those stored before the
-- batch (when the row was not written at the last events) and those of the batch. Its table is
-- named unqualified, so that a rebuild's clone of the handler writes the copy being built.
create or replace function {{schema}}.generate_snapshot_handler(p_name text, p_evolve text, p_types text[], p_initial jsonb,
  p_every int, p_on_types text[]) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  execute format($f$
create or replace function {{schema}}_snapshots.%I(p_events {{schema}}.events[]) returns void
language plpgsql
set search_path = {{schema}}_snapshots, pg_temp
as %L
$f$, 'snapshot__' || p_name, format($code$
declare
  v_stream uuid;
  v_state jsonb;
  v_version bigint;
  v_first bigint;
  v_last bigint;
  v_last_marked bigint;
  v_target bigint;
  v_event {{schema}}.events;
begin
  for v_stream in select distinct e.uuid from unnest(p_events) e loop
    select s.state, s.version into v_state, v_version from %1$I s where s.stream = v_stream;
    if not found then
      v_state := %2$L::jsonb;
      v_version := 0;
    end if;
    select min(e.version), max(e.version), %6$s into v_first, v_last, v_last_marked
      from unnest(p_events) e where e.uuid = v_stream and e.version > v_version;
    continue when v_last is null;
    -- The version the row is written at, if any: nothing is folded for a statement that writes none.
    v_target := case when %5$s then v_last else v_last_marked end;
    continue when v_target is null;
    if v_first > v_version + 1 then
      for v_event in
        select e.id, e.uuid, e.version, e.type, e.body, e.metadata, e.event_id, e.inserted_at, e.transaction_id, e.type_version, e.archived, e.tenant
          from {{schema}}.current_events e
         where e.uuid = v_stream and e.version > v_version and e.version < v_first and e.type = any(%3$L::text[])
         order by e.version
      loop
        v_state := %4$s(v_state, v_event);
      end loop;
    end if;
    for v_event in select * from unnest(p_events) e where e.uuid = v_stream and e.version > v_version and e.version <= v_target order by e.version loop
      v_state := %4$s(v_state, v_event);
    end loop;
    insert into %1$I as s (stream, version, state) values (v_stream, v_target, v_state)
    on conflict (stream) do update set version = excluded.version, state = excluded.state, updated_at = statement_timestamp();
  end loop;
end;
$code$, p_name, p_initial, p_types, p_evolve,
    case when p_every is null then 'false' else format('v_last - v_version >= %s', p_every) end,
    case when p_on_types is null then 'null::bigint' else format('max(e.version) filter (where e.type = any(%L::text[]))', p_on_types) end));
  execute format('revoke all on function {{schema}}_snapshots.%I({{schema}}.events[]) from public', 'snapshot__' || p_name);
end;
$$;

-- Drops a snapshot: its projection, its table and its handler.
create or replace function {{schema}}.drop_snapshot(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  if not exists (select 1 from snapshots s where s.name = p_name) then
    raise exception 'Unknown snapshot: %', coalesce(p_name, 'null')
      using errcode = 'PE005', detail = json_build_object('projection', p_name)::text;
  end if;
  perform drop_projection(p_name, true);
  execute format('drop function if exists {{schema}}_snapshots.%I({{schema}}.events[])', 'snapshot__' || p_name);
end;
$$;

-- The handlers follow this file's code after an upgrade, as the projections' code does.
select {{schema}}.generate_snapshot_handler(s.name, split_part(s.evolve, '(', 1), s.types, s.initial, s.every, s.on_types)
  from {{schema}}.snapshots s;
