-- pgevents 0005: online projection rebuilds, projection versions, verify, the set-based fast path,
-- materialized-view staleness and projection health.
--
-- An online rebuild builds a projection's tables anew in shadow copies (in a schema of their own)
-- while the live tables keep serving reads and the projection's trigger keeps applying appends to
-- them, then swaps shadow and live in one short transaction.
--
-- Which events a rebuild has applied is tracked with snapshots, not with a position cursor. Round 0
-- applies every handled event visible in the snapshot taken at the start, in position order; each
-- later round applies the events that became visible between the previous round's snapshot and a
-- new one, in position order. Within a stream, the events visible in any snapshot are always its
-- first n versions (an append waits for the stream's previous append to commit), so every stream's
-- events are applied in version order, as a replay and the live trigger apply them; ordering by
-- (transaction_id, position) instead would not guarantee that.

alter table {{schema}}.projections
  add column built_version int,
  add column rebuild_sql text,
  add column rebuild_search_path text,
  add column last_rebuilt_at timestamptz,
  add column refreshed_snapshot pg_snapshot;

comment on column {{schema}}.projections.built_version is 'Version of the projection code its tables were last built with (by a full replay or a rebuild); null: never built from the stored events.';
comment on column {{schema}}.projections.rebuild_sql is 'The optional set-based rebuild statement (the fast path of a rebuild).';

-- Projections defined before this migration are taken to be built with their current code.
update {{schema}}.projections set built_version = version where kind = 'trigger';

-- One row per projection that is being, or was last, rebuilt. A new rebuild replaces the row.
create table {{schema}}.rebuilds (
  projection text primary key references {{schema}}.projections (name) on delete cascade,
  phase text not null,
  path text not null,
  shadow_schema name not null,
  fingerprint text not null,
  version int not null,
  round int not null default 0,
  -- The events of the current round are those visible in snapshot and not in prev_snapshot (all
  -- visible in snapshot for round 0), applied in position order; after_position is the last one applied.
  prev_snapshot pg_snapshot,
  snapshot pg_snapshot not null,
  after_position bigint not null default 0,
  applied bigint not null default 0,
  total bigint not null default 0,
  busy_seconds float8 not null default 0,
  error jsonb,
  started_at timestamptz not null default statement_timestamp(),
  updated_at timestamptz not null default statement_timestamp(),
  finished_at timestamptz,
  constraint rebuilds_phase_valid check (phase in ('building', 'catching_up', 'swapping', 'done', 'failed')),
  constraint rebuilds_path_valid check (path in ('handlers', 'statement'))
);

comment on table {{schema}}.rebuilds is 'Online projection rebuilds: phase, snapshots applied, progress. Read rebuild_progress for rate and ETA.';

-- Progress of each rebuild, for people and for plain SQL: events applied of the total known so far
-- (the total grows while appends arrive), the rate while the rebuild was working, and the time left.
create view {{schema}}.rebuild_progress as
  select r.projection,
         r.phase,
         r.path,
         r.round,
         r.applied,
         greatest(r.total, r.applied) as total,
         case when greatest(r.total, r.applied) = 0 or r.phase = 'done' then 100::numeric
              else round(100.0 * r.applied / greatest(r.total, r.applied), 1) end as percent,
         case when r.busy_seconds > 0 then round((r.applied / r.busy_seconds)::numeric, 1) end as events_per_second,
         case when r.phase in ('building', 'catching_up', 'swapping') and r.busy_seconds > 0 and r.applied > 0
              then round(((greatest(r.total, r.applied) - r.applied) / (r.applied / r.busy_seconds))::numeric, 1) end as eta_seconds,
         r.version,
         r.shadow_schema,
         r.error,
         r.started_at,
         r.updated_at,
         r.finished_at
    from {{schema}}.rebuilds r;

-- The schema that holds a projection's shadow tables (p_purpose 'rebuild') or verify's scratch
-- copy ('verify'): readable when it fits in 63 bytes, else shortened with a hash of the store schema.
create function {{schema}}.rebuild_schema_name(p_name text, p_purpose text) returns name
language sql
immutable
set search_path = {{schema}}, pg_temp
as $$
  select case when octet_length('{{schema}}_' || p_purpose || '_' || p_name) <= 63
              then '{{schema}}_' || p_purpose || '_' || p_name
              else 'pe_' || left(md5('{{schema}}'), 8) || '_' || left(p_purpose, 2) || '_' || p_name end::name;
$$;

create function {{schema}}.raise_rebuild_refused(p_name text, p_reason text, p_hint text, p_table text default null)
returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Rebuild of projection % refused: %', p_name, p_reason
    using errcode = 'PE020',
          detail = json_build_object('projection', p_name, 'table', p_table)::text,
          hint = p_hint;
end;
$$;

-- What must hold for a projection's tables to be copied and, with p_for_swap, swapped: refusals
-- name the table and the reason (PE020).
create function {{schema}}.check_rebuild_tables(p_name text, p_for_swap boolean) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_table text;
  v_rel regclass;
  v_class record;
  v_other text;
  v_rels oid[] := '{}';
begin
  select * into v_projection from projections where name = p_name;
  if cardinality(v_projection.tables) = 0 then
    perform raise_rebuild_refused(p_name, 'it declares no tables',
      'Define the projection again with the tables it writes (p_tables).');
  end if;
  foreach v_table in array v_projection.tables loop
    v_rel := to_regclass(v_table);
    if v_rel is null then
      perform raise_rebuild_refused(p_name, format('its table %s does not exist', v_table),
        'Create the table again, or define the projection again without it.', v_table);
    end if;
    v_rels := v_rels || v_rel::oid;
  end loop;
  if (select count(distinct c.relname) from pg_class c where c.oid = any(v_rels)) < cardinality(v_rels) then
    perform raise_rebuild_refused(p_name, 'two of its tables have the same name in different schemas',
      'Rename one of them: the shadow copies share one schema.');
  end if;

  foreach v_table in array v_projection.tables loop
    v_rel := to_regclass(v_table);
    select c.relkind, c.relpersistence, c.relowner into v_class from pg_class c where c.oid = v_rel;
    if v_class.relkind <> 'r' then
      perform raise_rebuild_refused(p_name, format('%s is not a plain table (partitioned tables and views cannot be swapped)', v_rel),
        'Use replay_projection for it.', v_table);
    end if;
    if exists (select 1 from pg_inherits i where i.inhrelid = v_rel or i.inhparent = v_rel) then
      perform raise_rebuild_refused(p_name, format('%s takes part in table inheritance', v_rel),
        'Use replay_projection for it.', v_table);
    end if;
    select p.name into v_other from projections p
     where p.name <> p_name and v_table = any(p.tables) limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('%s is also a table of projection %s', v_rel, v_other),
        'A swap would drop the other projection''s rows: give each projection tables of its own.', v_table);
    end if;
    if not pg_has_role(current_user, v_class.relowner, 'USAGE') then
      perform raise_rebuild_refused(p_name, format('%s is owned by %s, and %s does not have its privileges',
        v_rel, v_class.relowner::regrole, current_user),
        'Run the rebuild as the owner of the read-model tables (or a member of that role).', v_table);
    end if;
    if not p_for_swap then
      continue;
    end if;
    select t.tgname into v_other from pg_trigger t where t.tgrelid = v_rel and not t.tgisinternal limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('%s has the trigger %s, which the shadow copy would not have', v_rel, v_other),
        'Drop the trigger (do its work in the handlers), or use replay_projection.', v_table);
    end if;
    select r.rulename into v_other from pg_rewrite r where r.ev_class = v_rel and r.rulename <> '_RETURN' limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('%s has the rule %s', v_rel, v_other),
        'Drop the rule, or use replay_projection.', v_table);
    end if;
    select format('%s.%s', n.nspname, c.relname) into v_other
      from pg_depend d
      join pg_rewrite r on d.classid = 'pg_rewrite'::regclass and r.oid = d.objid
      join pg_class c on c.oid = r.ev_class
      join pg_namespace n on n.oid = c.relnamespace
     where d.refclassid = 'pg_class'::regclass and d.refobjid = v_rel and r.ev_class <> v_rel
     limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('the view %s depends on %s', v_other, v_rel),
        'Drop the view before the rebuild and create it again after, or use replay_projection.', v_table);
    end if;
    select format('%s (%s)', k.conname, k.conrelid::regclass) into v_other
      from pg_constraint k
     where k.contype = 'f' and k.confrelid = v_rel and not k.conrelid = any(v_rels)
     limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('the foreign key %s references %s', v_other, v_rel),
        'Only foreign keys between the projection''s own tables survive a swap: drop it, or use replay_projection.', v_table);
    end if;
    select p.proname into v_other
      from pg_depend d join pg_proc p on d.classid = 'pg_proc'::regclass and p.oid = d.objid
     where d.refclassid = 'pg_class'::regclass and d.refobjid = v_rel
     limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('the function %s refers to %s in a SQL-standard body', v_other, v_rel),
        'Write the function with a quoted body instead of BEGIN ATOMIC, or use replay_projection.', v_table);
    end if;
    select p.pubname into v_other
      from pg_publication_rel pr join pg_publication p on p.oid = pr.prpubid
     where pr.prrelid = v_rel limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('%s is in the publication %s; the rebuilt table would drop out of it', v_rel, v_other),
        'Use replay_projection, or drop the table from the publication and add it back after the rebuild.', v_table);
    end if;
  end loop;
end;
$$;

-- A digest of everything a rebuild depends on: version, tables and their columns, rebuild
-- statement, and each handler's signature, settings and source. A rebuild refuses to continue or
-- swap when it changed since the rebuild began.
create function {{schema}}.projection_fingerprint(p_name text) returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select md5(concat_ws(E'\n',
    p.version::text,
    coalesce(p.rebuild_sql, ''),
    (select string_agg(t || ':' || coalesce((
              select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' order by a.attnum)
                from pg_attribute a
               where a.attrelid = to_regclass(t) and a.attnum > 0 and not a.attisdropped), '?'), E'\n' order by t)
       from unnest(p.tables) t),
    (select string_agg(h.event_type || '=' || h.handler || ':' || coalesce((
              select concat_ws('|', f.prosrc, f.proconfig::text, f.prolang::text)
                from pg_proc f where f.oid = to_regprocedure(h.handler)), '?'), E'\n' order by h.event_type)
       from projection_handlers h where h.projection = p.name)))
    from projections p
   where p.name = p_name;
$$;

-- Copies a projection's tables (structure, defaults, constraints, indexes under their live names,
-- fresh sequences) into p_schema, clones each handler there with the shadow schema first on its
-- search_path, and generates p_schema.apply_events, the projection's dispatch over the events of
-- a snapshot range. With p_for_swap, foreign keys are copied too (between shadow tables) and the
-- tables are checked for what a swap cannot carry over.
create function {{schema}}.create_shadow(p_name text, p_schema name, p_for_swap boolean) returns void
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
  v_types text[];
  v_dispatch text;
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
      join pg_proc f on f.oid = to_regprocedure(h.handler)
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

  select array_agg(event_type order by event_type),
         'case v_event.type' || string_agg(
           format(E'\n      when %L then perform %I.%I(%s);', h.event_type, p_schema,
                  v_clones ->> to_regprocedure(h.handler)::oid::text,
                  case when h.takes_event then 'v_event' else 'v_event.uuid, v_event.body' end),
           '' order by h.event_type) || E'\n      else null;\n    end case;'
    into v_types, v_dispatch
    from projection_handlers h
   where h.projection = p_name;

  -- The events of a rebuild round: handled events after p_after, visible in p_cur (all committed
  -- ones when null) and not in p_prev, in position order. Dynamic SQL, so that each call is
  -- planned for its own range (the position index for round 0, the transaction index after).
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
$f$, p_schema, v_types, v_dispatch, projection_error_handler(p_name));
  execute format('revoke all on function %I.apply_events(bigint, int, pg_snapshot, pg_snapshot) from public', p_schema);
end;
$$;

-- Per-table counters of this backend's current transaction (scans and row writes), to tell whether
-- a handler reached past the shadow copies. Tables in p_skip_schema and temporary tables are left out.
create function {{schema}}.table_touch_counts(p_skip_schema name) returns jsonb
language sql
volatile
set search_path = {{schema}}, pg_temp
as $$
  select coalesce(jsonb_object_agg(s.relid::text, jsonb_build_array(
           coalesce(s.seq_scan, 0) + coalesce(s.idx_scan, 0), s.n_tup_ins + s.n_tup_upd + s.n_tup_del)), '{}')
    from pg_stat_xact_user_tables s
   where s.schemaname <> p_skip_schema and s.schemaname not like 'pg\_temp\_%'
     and (coalesce(s.seq_scan, 0) + coalesce(s.idx_scan, 0) + s.n_tup_ins + s.n_tup_upd + s.n_tup_del) > 0;
$$;

-- Raises PE022 when, since p_before, this transaction read or wrote one of the projection's live
-- tables, or wrote any other table outside p_schema: a handler (or the rebuild statement) names a
-- table schema-qualified, or writes a table that is not one of the projection's. Nothing is kept:
-- the error rolls the work back, so the live tables stay as they were.
create function {{schema}}.check_shadow_only(p_name text, p_schema name, p_before jsonb) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_after jsonb := table_touch_counts(p_schema);
  v_live oid[];
  v_touched record;
begin
  select array_agg(to_regclass(t)::oid) into v_live from projections p, unnest(p.tables) t where p.name = p_name;
  select a.key::oid::regclass as rel, a.key::oid = any(v_live) as live
    into v_touched
    from jsonb_each(v_after) a
   where (a.key::oid = any(v_live)
          and ((a.value ->> 0)::bigint > coalesce((p_before -> a.key ->> 0)::bigint, 0)
               or (a.value ->> 1)::bigint > coalesce((p_before -> a.key ->> 1)::bigint, 0)))
      or (not a.key::oid = any(v_live) and a.key::oid <> 'rebuilds'::regclass
          and (a.value ->> 1)::bigint > coalesce((p_before -> a.key ->> 1)::bigint, 0))
   limit 1;
  if found then
    raise exception 'Rebuild of projection % stopped: its handlers % %, which is not one of the copies being built',
      p_name, case when v_touched.live then 'read or wrote the live table' else 'wrote the table' end, v_touched.rel
      using errcode = 'PE022',
            detail = json_build_object('projection', p_name, 'table', v_touched.rel::text, 'live', v_touched.live)::text,
            hint = case when v_touched.live
                        then 'Handlers must name the projection''s tables unqualified (their search_path finds them); nothing was changed. Use replay_projection for this projection.'
                        else 'List every table the handlers write in the projection''s tables, or use replay_projection.' end;
  end if;
end;
$$;

-- Runs the projection's rebuild statement (the fast path) into the shadow schema: its unqualified
-- table names resolve to the shadow copies, other names as for the caller of define_projection.
create function {{schema}}.run_rebuild_sql(p_name text, p_schema name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_state text; v_message text; v_detail text;
begin
  select * into v_projection from projections where name = p_name;
  perform set_config('search_path', concat_ws(', ', quote_ident(p_schema), v_projection.rebuild_search_path), true);
  begin
    execute v_projection.rebuild_sql;
  exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, v_detail = pg_exception_detail;
    if v_state like '40%' or v_state in ('57014', '55P03') then
      raise;
    end if;
    raise exception 'The rebuild statement of projection % failed: %', p_name, v_message
      using errcode = 'PE024',
            detail = json_build_object('projection', p_name, 'sqlstate', v_state, 'message', v_message, 'detail', v_detail)::text,
            hint = 'Fix the statement and define the projection again; nothing was changed.';
  end;
  -- set_config(…, true) lasts until the end of the transaction; the function's own search_path
  -- setting is restored when it returns, so nothing leaks to the caller.
end;
$$;

create function {{schema}}.rebuild_progress_of(p_name text) returns {{schema}}.rebuild_progress
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select * from rebuild_progress where projection = p_name;
$$;

create function {{schema}}.raise_no_rebuild(p_name text, p_reason text, p_hint text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Rebuild of projection %: %', p_name, p_reason
    using errcode = 'PE021', detail = json_build_object('projection', p_name)::text, hint = p_hint;
end;
$$;

-- Starts (or resumes) an online rebuild and returns its progress. An unfinished rebuild of the same
-- definition is resumed unless p_restart; one of a changed definition must be restarted (PE021).
-- A fresh start creates the shadow tables and takes the snapshot of round 0. With a rebuild
-- statement (the fast path) it also runs that statement, which needs the snapshot it reads with to
-- be the transaction's: call it in a REPEATABLE READ transaction (PE020 otherwise).
create function {{schema}}.rebuild_start(p_name text, p_restart boolean default false)
returns {{schema}}.rebuild_progress
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_rebuild rebuilds;
  v_schema name;
  v_snapshot pg_snapshot;
  v_types text[];
  v_total bigint;
  v_before jsonb;
  v_started timestamptz := clock_timestamp();
begin
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  if v_projection.kind <> 'trigger' then
    perform raise_rebuild_refused(p_name, 'it is a materialized view',
      format('Refresh it instead: select {{schema}}.refresh_materialized_view(%L)', p_name));
  end if;

  select * into v_rebuild from rebuilds where projection = p_name for update;
  if found and v_rebuild.phase <> 'done' and not coalesce(p_restart, false) then
    if v_rebuild.fingerprint is distinct from projection_fingerprint(p_name) then
      perform raise_no_rebuild(p_name, 'the projection or its handlers changed since the rebuild began',
        format('Restart it: select {{schema}}.rebuild_start(%L, true)', p_name));
    end if;
    if v_rebuild.phase = 'failed' then
      update rebuilds
         set phase = case when round = 0 then 'building' else 'catching_up' end, error = null,
             updated_at = statement_timestamp()
       where projection = p_name;
    end if;
    return rebuild_progress_of(p_name);
  end if;

  if v_projection.rebuild_sql is not null and current_setting('transaction_isolation') = 'read committed' then
    perform raise_rebuild_refused(p_name, 'its rebuild statement must run in a REPEATABLE READ transaction',
      format('begin isolation level repeatable read; select {{schema}}.rebuild_start(%L); commit; or: call {{schema}}.rebuild_projection(%L)', p_name, p_name));
  end if;

  v_schema := rebuild_schema_name(p_name, 'rebuild');
  perform create_shadow(p_name, v_schema, true);
  select array_agg(event_type) into v_types from projection_handlers where projection = p_name;
  v_snapshot := pg_current_snapshot();
  select count(*) into v_total from events e
   where e.type = any(v_types) and pg_visible_in_snapshot(e.transaction_id, v_snapshot);

  delete from rebuilds where projection = p_name;
  insert into rebuilds (projection, phase, path, shadow_schema, fingerprint, version, snapshot, total)
  values (p_name, 'building', case when v_projection.rebuild_sql is null then 'handlers' else 'statement' end,
          v_schema, projection_fingerprint(p_name), v_projection.version, v_snapshot, v_total);

  if v_projection.rebuild_sql is not null then
    -- The statement reads with this transaction's snapshot, which is v_snapshot: the events it
    -- covers are exactly those visible in it. Round 0 is then done; the next round applies what
    -- became visible since.
    v_before := table_touch_counts(v_schema);
    perform run_rebuild_sql(p_name, v_schema);
    perform check_shadow_only(p_name, v_schema, v_before);
    update rebuilds
       set prev_snapshot = v_snapshot, applied = v_total,
           busy_seconds = extract(epoch from clock_timestamp() - v_started), updated_at = statement_timestamp()
     where projection = p_name;
  end if;
  return rebuild_progress_of(p_name);
end;
$$;

-- Applies the next batch (at most p_batch_size events) of a rebuild and returns its progress.
-- When a round is complete it starts the next one with a new snapshot; once a round has at most
-- one batch to apply (or after 20 rounds, when appends outpace the rebuild) the phase is
-- 'swapping': call rebuild_swap. A handler error is not raised: the rebuild is recorded as
-- 'failed' with the error, and the progress returned says so (rebuild_start resumes it).
create function {{schema}}.rebuild_step(p_name text, p_batch_size int default 5000)
returns {{schema}}.rebuild_progress
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_rebuild rebuilds;
  v_step record;
  v_before jsonb;
  v_next pg_snapshot;
  v_delta bigint;
  v_types text[];
  v_table text;
  v_started timestamptz := clock_timestamp();
  v_state text; v_message text; v_detail text; v_hint text;
begin
  if p_batch_size is null or p_batch_size < 1 then
    raise exception 'Invalid batch size for the rebuild of %: %', p_name, coalesce(p_batch_size::text, 'null')
      using errcode = 'PE025', detail = json_build_object('projection', p_name, 'field', 'batch_size')::text;
  end if;
  select * into v_rebuild from rebuilds where projection = p_name for update;
  if not found then
    if not exists (select 1 from projections where name = p_name) then
      perform raise_unknown_projection(p_name);
    end if;
    perform raise_no_rebuild(p_name, 'no rebuild is in progress',
      format('Start one: select {{schema}}.rebuild_start(%L)', p_name));
  end if;
  if v_rebuild.phase in ('done', 'failed') then
    perform raise_no_rebuild(p_name, format('the last rebuild is %s', v_rebuild.phase),
      format('Start (or resume) one: select {{schema}}.rebuild_start(%L)', p_name));
  end if;
  if v_rebuild.fingerprint is distinct from projection_fingerprint(p_name) then
    perform raise_no_rebuild(p_name, 'the projection or its handlers changed since the rebuild began',
      format('Restart it: select {{schema}}.rebuild_start(%L, true)', p_name));
  end if;

  begin
    v_before := table_touch_counts(v_rebuild.shadow_schema);
    execute format('select applied, last_position from %I.apply_events($1, $2, $3, $4)', v_rebuild.shadow_schema)
      into v_step
      using v_rebuild.after_position, p_batch_size, v_rebuild.prev_snapshot, v_rebuild.snapshot;
    perform check_shadow_only(p_name, v_rebuild.shadow_schema, v_before);
  exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text,
                            v_detail = pg_exception_detail, v_hint = pg_exception_hint;
    if v_state like '40%' or v_state in ('57014', '55P03') then
      raise;
    end if;
    update rebuilds
       set phase = 'failed',
           error = jsonb_build_object('sqlstate', v_state, 'message', v_message, 'detail', v_detail, 'hint', v_hint),
           updated_at = statement_timestamp()
     where projection = p_name;
    return rebuild_progress_of(p_name);
  end;

  update rebuilds
     set after_position = v_step.last_position, applied = applied + v_step.applied
   where projection = p_name
  returning * into v_rebuild;

  if v_step.applied < p_batch_size then
    if v_rebuild.round = 0 then
      -- The bulk of the rows is in: give the planner statistics before the tables go live.
      foreach v_table in array (select tables from projections where name = p_name) loop
        execute format('analyze %I.%I', v_rebuild.shadow_schema, (select relname from pg_class where oid = to_regclass(v_table)));
      end loop;
    end if;
    v_next := pg_current_snapshot();
    select array_agg(event_type) into v_types from projection_handlers where projection = p_name;
    select count(*) into v_delta from events e
     where e.type = any(v_types)
       and e.transaction_id >= pg_snapshot_xmin(v_rebuild.snapshot)
       and pg_visible_in_snapshot(e.transaction_id, v_next)
       and not pg_visible_in_snapshot(e.transaction_id, v_rebuild.snapshot);
    update rebuilds
       set prev_snapshot = snapshot, snapshot = v_next, after_position = 0, round = round + 1,
           total = applied + v_delta,
           phase = case when v_delta <= p_batch_size or round + 1 >= 20 then 'swapping' else 'catching_up' end
     where projection = p_name;
  end if;
  update rebuilds
     set busy_seconds = busy_seconds + extract(epoch from clock_timestamp() - v_started),
         updated_at = statement_timestamp()
   where projection = p_name;
  return rebuild_progress_of(p_name);
end;
$$;

-- Makes the shadow tables live, in the caller's transaction, which must be READ COMMITTED:
-- takes the projection's advisory lock exclusively (appends of the event types it handles now
-- wait), applies every event not applied yet, copies owner, grants, row security and comments,
-- replaces the live tables with the shadows, and records the rebuild. Locks are waited for at most
-- p_lock_timeout each; when one is not granted in time nothing changes and PE023 is raised: catch
-- up (rebuild_step) and try again. A handler error marks the rebuild failed, as in rebuild_step.
create function {{schema}}.rebuild_swap(p_name text, p_lock_timeout text default '500ms')
returns {{schema}}.rebuild_progress
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_rebuild rebuilds;
  v_step record;
  v_applied bigint := 0;
  v_before jsonb;
  v_lock_timeout text := current_setting('lock_timeout');
  v_table text;
  v_rel regclass;
  v_shadow regclass;
  v_class record;
  v_grant record;
  v_policy record;
  v_started timestamptz := clock_timestamp();
  v_state text; v_message text; v_detail text; v_hint text;
begin
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  if current_setting('transaction_isolation') <> 'read committed' then
    perform raise_rebuild_refused(p_name, format('the swap needs READ COMMITTED isolation, not %s', current_setting('transaction_isolation')),
      'Swap in a READ COMMITTED transaction, so that it sees every append committed before it took the projection''s lock.');
  end if;
  select * into v_rebuild from rebuilds where projection = p_name for update;
  if not found or v_rebuild.phase in ('done', 'failed', 'building') then
    perform raise_no_rebuild(p_name,
      case when not found then 'no rebuild is in progress'
           when v_rebuild.phase = 'building' then 'the rebuild is still building its first round'
           else format('the last rebuild is %s', v_rebuild.phase) end,
      format('Start it, or continue it with rebuild_step until its phase is swapping: select * from {{schema}}.rebuild_step(%L)', p_name));
  end if;
  if v_rebuild.fingerprint is distinct from projection_fingerprint(p_name) then
    perform raise_no_rebuild(p_name, 'the projection or its handlers changed since the rebuild began',
      format('Restart it: select {{schema}}.rebuild_start(%L, true)', p_name));
  end if;
  perform check_rebuild_tables(p_name, true);

  begin
    perform set_config('lock_timeout', p_lock_timeout, true);
    perform pg_advisory_xact_lock(1885824374, projection_lock_key(p_name));
    -- From here on every handled append has either committed, and is visible to the statements
    -- below (READ COMMITTED: each takes a new snapshot), or waits for this lock in its trigger
    -- and will be applied by that trigger to the tables that are live once this transaction
    -- commits. So the rest of the current round, then everything visible and not applied yet, is
    -- exactly what is missing: unlike the rounds, no pg_snapshot_xmin bound is needed.
    v_before := table_touch_counts(v_rebuild.shadow_schema);
    execute format('select applied, last_position from %I.apply_events($1, null, $2, $3)', v_rebuild.shadow_schema)
      into v_step using v_rebuild.after_position, v_rebuild.prev_snapshot, v_rebuild.snapshot;
    v_applied := v_step.applied;
    execute format('select applied, last_position from %I.apply_events(0, null, $1, null)', v_rebuild.shadow_schema)
      into v_step using v_rebuild.snapshot;
    v_applied := v_applied + v_step.applied;
    perform check_shadow_only(p_name, v_rebuild.shadow_schema, v_before);

    execute 'lock table ' || (select string_agg(to_regclass(t)::text, ', ') from unnest(v_projection.tables) t)
            || ' in access exclusive mode';
    foreach v_table in array v_projection.tables loop
      v_rel := to_regclass(v_table);
      select c.relname, c.relowner, c.relrowsecurity, c.relforcerowsecurity, n.nspname
        into v_class
        from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = v_rel;
      v_shadow := format('%I.%I', v_rebuild.shadow_schema, v_class.relname)::regclass;
      for v_grant in
        select a.privilege_type, a.grantee, a.is_grantable, null::name as column_name
          from pg_class c, aclexplode(c.relacl) a
         where c.oid = v_rel and a.grantee <> c.relowner
        union all
        select a.privilege_type, a.grantee, a.is_grantable, att.attname
          from pg_attribute att, aclexplode(att.attacl) a
         where att.attrelid = v_rel and att.attnum > 0 and not att.attisdropped and att.attacl is not null
      loop
        execute format('grant %s%s on %s to %s%s', v_grant.privilege_type,
                       case when v_grant.column_name is null then '' else format(' (%I)', v_grant.column_name) end,
                       v_shadow, case when v_grant.grantee = 0 then 'public' else quote_ident(v_grant.grantee::regrole::text) end,
                       case when v_grant.is_grantable then ' with grant option' else '' end);
      end loop;
      for v_policy in
        select p.polname, p.polpermissive, p.polcmd, pg_get_expr(p.polqual, p.polrelid) as qual,
               pg_get_expr(p.polwithcheck, p.polrelid) as with_check,
               (select string_agg(case when r = 0 then 'public' else quote_ident(r::regrole::text) end, ', ')
                  from unnest(p.polroles) r) as roles
          from pg_policy p where p.polrelid = v_rel
      loop
        execute format('create policy %I on %s as %s for %s to %s%s%s', v_policy.polname, v_shadow,
                       case when v_policy.polpermissive then 'permissive' else 'restrictive' end,
                       case v_policy.polcmd when 'r' then 'select' when 'a' then 'insert' when 'w' then 'update'
                                            when 'd' then 'delete' else 'all' end,
                       v_policy.roles,
                       case when v_policy.qual is null then '' else format(' using (%s)', v_policy.qual) end,
                       case when v_policy.with_check is null then '' else format(' with check (%s)', v_policy.with_check) end);
      end loop;
      if v_class.relrowsecurity then
        execute format('alter table %s enable row level security', v_shadow);
      end if;
      if v_class.relforcerowsecurity then
        execute format('alter table %s force row level security', v_shadow);
      end if;
      execute format('comment on table %s is %L', v_shadow, obj_description(v_rel, 'pg_class'));
      -- The new table (with its indexes and sequences) belongs to the live table's owner.
      if (select c.relowner from pg_class c where c.oid = v_shadow) <> v_class.relowner then
        execute format('alter table %s owner to %I', v_shadow, v_class.relowner::regrole::text);
      end if;
    end loop;

    execute 'drop table ' || (select string_agg(to_regclass(t)::text, ', ') from unnest(v_projection.tables) t);
    foreach v_table in array v_projection.tables loop
      execute format('alter table %I.%I set schema %I', v_rebuild.shadow_schema, (parse_ident(v_table))[2],
                     (parse_ident(v_table))[1]);
    end loop;
  exception
    when lock_not_available then
      raise exception 'Swap of projection % did not get its locks within % (appends of its event types or readers of its tables held them)',
        p_name, p_lock_timeout
        using errcode = 'PE023',
              detail = json_build_object('projection', p_name, 'lock_timeout', p_lock_timeout)::text,
              hint = format('Nothing changed. Catch up and try again: select * from {{schema}}.rebuild_step(%L); select * from {{schema}}.rebuild_swap(%L)', p_name, p_name);
    when dependent_objects_still_exist then
      get stacked diagnostics v_detail = pg_exception_detail;
      perform raise_rebuild_refused(p_name, format('other objects depend on its tables: %s', v_detail),
        'Drop them before the swap and create them again after; nothing changed.');
    when others then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text,
                              v_detail = pg_exception_detail, v_hint = pg_exception_hint;
      if v_state like '40%' or v_state in ('57014', 'PE020') then
        raise;
      end if;
      update rebuilds
         set phase = 'failed',
             error = jsonb_build_object('sqlstate', v_state, 'message', v_message, 'detail', v_detail, 'hint', v_hint),
             updated_at = statement_timestamp()
       where projection = p_name;
      return rebuild_progress_of(p_name);
  end;
  perform set_config('lock_timeout', v_lock_timeout, true);
  perform grant_projection_reads(p_name);
  execute format('drop schema %I cascade', v_rebuild.shadow_schema);
  update projections
     set last_rebuilt_at = statement_timestamp(), built_version = v_rebuild.version
   where name = p_name;
  update rebuilds
     set phase = 'done', applied = applied + v_applied, total = greatest(total, applied + v_applied),
         busy_seconds = busy_seconds + extract(epoch from clock_timestamp() - v_started),
         finished_at = statement_timestamp(), updated_at = statement_timestamp(), error = null
   where projection = p_name;
  return rebuild_progress_of(p_name);
end;
$$;

-- Raises the error a failed rebuild recorded, with its SQLSTATE, detail and hint.
create function {{schema}}.raise_rebuild_failure(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_error jsonb := (select error from rebuilds where projection = p_name and phase = 'failed');
begin
  if v_error is null then
    return;
  end if;
  raise exception using
    message = coalesce(v_error ->> 'message', format('Rebuild of projection %s failed', p_name)),
    errcode = coalesce(v_error ->> 'sqlstate', 'PE024'),
    detail = coalesce(v_error ->> 'detail', ''),
    hint = coalesce(nullif(v_error ->> 'hint', ''),
                    format('Fix the cause, then resume with: call {{schema}}.rebuild_projection(%L)', p_name));
end;
$$;

-- Abandons an unfinished rebuild: drops its shadow tables and forgets it. Returns whether there was
-- one. The live tables are not touched.
create function {{schema}}.rebuild_cancel(p_name text) returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_rebuild rebuilds;
begin
  select * into v_rebuild from rebuilds where projection = p_name and phase <> 'done' for update;
  if not found then
    return false;
  end if;
  execute format('drop schema if exists %I cascade', v_rebuild.shadow_schema);
  delete from rebuilds where projection = p_name;
  return true;
end;
$$;

-- An online rebuild in one call, for psql: start (or resume), batches, swap, each in a transaction
-- of its own, so that progress is visible in rebuild_progress and an interruption loses at most
-- one batch. Call it on its own, not inside a transaction block:
--   call pgevents.rebuild_projection('users');
-- A swap whose locks are not granted in time is retried after catching up, up to 10 times.
-- (A procedure that commits cannot pin its search_path: every name here is schema-qualified.)
create procedure {{schema}}.rebuild_projection(p_name text, p_restart boolean default false, p_batch_size int default 5000)
language plpgsql
as $$
declare
  v_progress {{schema}}.rebuild_progress;
  v_attempts int := 0;
  v_swapped boolean;
begin
  commit;
  -- The fast path's statement must read with the transaction's snapshot.
  set transaction isolation level repeatable read;
  v_progress := {{schema}}.rebuild_start(p_name, p_restart);
  commit;
  loop
    while v_progress.phase in ('building', 'catching_up') loop
      v_progress := {{schema}}.rebuild_step(p_name, p_batch_size);
      commit;
    end loop;
    exit when v_progress.phase <> 'swapping';
    v_swapped := false;
    begin
      v_progress := {{schema}}.rebuild_swap(p_name);
      v_swapped := true;
    exception when sqlstate 'PE023' or deadlock_detected then
      v_attempts := v_attempts + 1;
      if v_attempts >= 10 then
        raise;
      end if;
    end;
    commit;
    if not v_swapped then
      perform pg_sleep(least(0.05 * 2 ^ v_attempts, 2));
      v_progress := {{schema}}.rebuild_step(p_name, p_batch_size);
      commit;
    end if;
  end loop;
  if v_progress.phase = 'failed' then
    perform {{schema}}.raise_rebuild_failure(p_name);
  end if;
end;
$$;

-- Rebuilds the projection into a scratch copy within the caller's transaction and reports how it
-- differs from the live tables; the scratch copy is dropped before returning. In REPEATABLE READ
-- (or SERIALIZABLE) both sides are read at the transaction's snapshot and appends go on; in READ
-- COMMITTED the projection's lock is taken, so appends of its event types wait until the caller's
-- transaction ends. p_ignore_columns: columns left out of the comparison (e.g. set by now()).
-- Returns {"projection", "equal", "tables": [{"table", "live_rows", "rebuilt_rows", "missing",
-- "extra", "different", "samples": {"missing": [...], "extra": [...], "different": [{"live", "rebuilt"}]}}]}:
-- missing are rows a rebuild has and the live table lacks, extra the reverse, different the rows
-- whose primary key is on both sides with other values. A materialized view is compared with
-- what its query returns now.
create function {{schema}}.verify_projection(
  p_name text,
  p_ignore_columns text[] default null,
  p_sample_size int default 10
) returns jsonb
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_schema name := rebuild_schema_name(p_name, 'verify');
  v_before jsonb;
  v_table text;
  v_rel regclass;
  v_scratch text;
  v_columns text;
  v_key text[];
  v_key_match text;
  v_result record;
  v_tables jsonb := '[]';
  v_equal boolean := true;
  v_ignored_found text[] := '{}';
  v_unknown text;
  v_query text;
  v_dummy record;
begin
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  if p_sample_size is null or p_sample_size < 0 then
    raise exception 'Invalid sample size for verify of %: %', p_name, coalesce(p_sample_size::text, 'null')
      using errcode = 'PE025', detail = json_build_object('projection', p_name, 'field', 'sample_size')::text;
  end if;

  if v_projection.kind = 'trigger' then
    if current_setting('transaction_isolation') = 'read committed' then
      perform pg_advisory_xact_lock(1885824374, projection_lock_key(p_name));
    end if;
    v_before := table_touch_counts(v_schema);
    perform create_shadow(p_name, v_schema, false);
    if v_projection.rebuild_sql is not null then
      perform run_rebuild_sql(p_name, v_schema);
    else
      execute format('select applied from %I.apply_events(0, null, null, null)', v_schema) into v_dummy;
    end if;
    perform check_shadow_only(p_name, v_schema, v_before);
  else
    if to_regclass(v_projection.tables[1]) is null then
      perform raise_rebuild_refused(p_name, format('its materialized view %s no longer exists', v_projection.tables[1]),
        format('Drop the projection and define it again: select {{schema}}.drop_projection(%L)', p_name));
    end if;
    execute format('drop schema if exists %I cascade', v_schema);
    execute format('create schema %I', v_schema);
    execute format('create table %I.%I as %s', v_schema, (parse_ident(v_projection.tables[1]))[2],
                   rtrim(btrim(pg_get_viewdef(to_regclass(v_projection.tables[1]))), ';'));
  end if;

  foreach v_table in array v_projection.tables loop
    v_rel := to_regclass(v_table);
    v_scratch := format('%I.%I', v_schema, (select relname from pg_class where oid = v_rel));
    select string_agg(case when a.atttypid in ('json'::regtype, 'xml'::regtype) or t.typcategory = 'G'
                           then format('%I::text as %I', a.attname, a.attname) else format('%I', a.attname) end,
                      ', ' order by a.attnum)
      into v_columns
      from pg_attribute a join pg_type t on t.oid = a.atttypid
     where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped
       and not a.attname = any(coalesce(p_ignore_columns, '{}'));
    v_ignored_found := v_ignored_found || array(
      select a.attname::text from pg_attribute a
       where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped and a.attname = any(coalesce(p_ignore_columns, '{}')));
    if v_columns is null then
      raise exception 'Invalid verify of %: every column of % is ignored', p_name, v_rel
        using errcode = 'PE025', detail = json_build_object('projection', p_name, 'field', 'ignore_columns')::text;
    end if;
    -- Rows are paired by the primary key (else the first unique index without expressions or
    -- predicate), when none of its columns is ignored.
    select array_agg(a.attname::text order by k.ord) into v_key
      from (select i.indexrelid, i.indkey from pg_index i
             where i.indrelid = v_rel and i.indisunique and i.indexprs is null and i.indpred is null
             order by i.indisprimary desc, i.indexrelid limit 1) i
      cross join unnest(i.indkey::int2[]) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = v_rel and a.attnum = k.attnum;
    if v_key is not null and v_key && coalesce(p_ignore_columns, '{}') then
      v_key := null;
    end if;
    v_key_match := case when v_key is null then null else
      (select format('(%s) = (%s)', string_agg(format('m.%I', c), ', '), string_agg(format('x.%I', c), ', ')) from unnest(v_key) c) end;
    v_query := format($q$
      with rebuilt as (select %1$s from %2$s),
           live as (select %1$s from %3$s),
           m as (select * from rebuilt except all select * from live),
           x as (select * from live except all select * from rebuilt)
      select (select count(*) from live) as live_rows,
             (select count(*) from rebuilt) as rebuilt_rows,
             (select count(*) from m) as missing_all,
             (select count(*) from x) as extra_all,
             %4$s as different,
             (select coalesce(jsonb_agg(to_jsonb(s)), '[]') from (select * from m %5$s limit %7$s) s) as missing_samples,
             (select coalesce(jsonb_agg(to_jsonb(s)), '[]') from (select * from x %6$s limit %7$s) s) as extra_samples,
             %8$s as different_samples
    $q$, v_columns, v_scratch, v_rel,
      case when v_key is null then '0' else format('(select count(*) from m join x on %s)', v_key_match) end,
      case when v_key is null then '' else format('m where not exists (select 1 from x where %s)', v_key_match) end,
      case when v_key is null then '' else format('x where not exists (select 1 from m where %s)', v_key_match) end,
      p_sample_size,
      case when v_key is null then '''[]''::jsonb' else format(
        '(select coalesce(jsonb_agg(jsonb_build_object(''live'', s.live, ''rebuilt'', s.rebuilt)), ''[]'') from (select to_jsonb(x) as live, to_jsonb(m) as rebuilt from m join x on %s limit %s) s)',
        v_key_match, p_sample_size) end);
    execute v_query into v_result;
    v_tables := v_tables || jsonb_build_object(
      'table', v_table,
      'live_rows', v_result.live_rows,
      'rebuilt_rows', v_result.rebuilt_rows,
      'missing', v_result.missing_all - v_result.different,
      'extra', v_result.extra_all - v_result.different,
      'different', v_result.different,
      'key', to_jsonb(v_key),
      'samples', jsonb_build_object('missing', v_result.missing_samples, 'extra', v_result.extra_samples,
                                    'different', v_result.different_samples));
    v_equal := v_equal and v_result.missing_all = 0 and v_result.extra_all = 0;
  end loop;
  select c into v_unknown from unnest(coalesce(p_ignore_columns, '{}')) c where not c = any(v_ignored_found) limit 1;
  if found then
    raise exception 'Invalid verify of %: no table of the projection has the column % to ignore', p_name, v_unknown
      using errcode = 'PE025', detail = json_build_object('projection', p_name, 'field', 'ignore_columns', 'column', v_unknown)::text,
            hint = 'Name columns of the projection''s tables.';
  end if;
  execute format('drop schema %I cascade', v_schema);
  return jsonb_build_object('projection', p_name, 'equal', v_equal, 'ignored_columns', to_jsonb(coalesce(p_ignore_columns, '{}')),
                            'tables', v_tables);
end;
$$;

-- Functions of 0002 that learn something here keep their bodies under a new name
-- (<name>_base) and are wrapped by a function of the old name that calls them, so that this
-- migration adds behaviour without restating (and possibly reverting) theirs.
alter function {{schema}}.define_projection(text, jsonb, text[], text, int) rename to define_projection_base;
alter function {{schema}}.replay_start(text, uuid, text[], bigint) rename to replay_start_base;
alter function {{schema}}.drop_projection(text, boolean) rename to drop_projection_base;
alter function {{schema}}.define_materialized_view(text, text, text[], text) rename to define_materialized_view_base;
alter function {{schema}}.refresh_materialized_view(text) rename to refresh_materialized_view_base;

-- Define (or redefine) a trigger projection: define_projection_base (0002) does the work; this
-- adds the projection's version bookkeeping and its rebuild statement.
-- p_version: the version of the handlers' code. A first definition is taken as built with it
--   unless events of its types are already stored (then its tables do not reflect them yet); a
--   redefinition with another version leaves the tables as they are and marks the projection as
--   needing a rebuild (projection_health.state = 'needs rebuild').
-- p_rebuild_sql: optional statement(s) that fill the projection's empty tables from the events in
--   one go (e.g. insert … select distinct on …), used by rebuilds and verify instead of the
--   handlers (the fast path). Table names written unqualified resolve to the tables being built;
--   other names resolve with the search_path of this call. Null: rebuilds use the handlers.
-- Function and table names resolve with the caller's search_path (this function does not pin one).
create function {{schema}}.define_projection(
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
  v_existed boolean := exists (select 1 from {{schema}}.projections where name = p_name);
begin
  if p_rebuild_sql is not null and btrim(p_rebuild_sql) = '' then
    raise exception 'Invalid projection %: the rebuild statement is empty', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = 'Pass null for no rebuild statement.';
  end if;
  perform {{schema}}.define_projection_base(p_name, p_handlers, p_tables, p_stream_column, p_version);
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

-- replay_start (0002); a full replay (no filter) also records that the tables are now built with
-- the projection's current version.
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
  v_total bigint := replay_start_base(p_name, p_stream, p_types, p_from_position);
begin
  if p_stream is null and p_types is null and p_from_position is null then
    update projections set built_version = version where name = p_name;
  end if;
  return v_total;
end;
$$;

-- drop_projection (0002); an unfinished rebuild's shadow tables go too.
create function {{schema}}.drop_projection(p_name text, p_drop_tables boolean default false) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  perform rebuild_cancel(p_name);
  perform drop_projection_base(p_name, p_drop_tables);
end;
$$;

-- define_materialized_view (0002); also records the snapshot the view reflects. The caller's
-- search_path is kept (no pinned path), so the query sees what the caller sees.
create function {{schema}}.define_materialized_view(
  p_name text,
  p_query text,
  p_unique_columns text[] default null,
  p_schema text default null
) returns void
language plpgsql
as $$
declare
  v_snapshot pg_snapshot := pg_current_snapshot();
begin
  perform {{schema}}.define_materialized_view_base(p_name, p_query, p_unique_columns, p_schema);
  update {{schema}}.projections set refreshed_snapshot = v_snapshot where name = p_name;
end;
$$;

-- refresh_materialized_view (0002); also records the snapshot taken before the refresh, so that
-- staleness counts the events committed since (at most a few too many, never too few).
create function {{schema}}.refresh_materialized_view(p_name text) returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_snapshot pg_snapshot := pg_current_snapshot();
  v_concurrently boolean := refresh_materialized_view_base(p_name);
begin
  update projections set refreshed_snapshot = v_snapshot where name = p_name;
  return v_concurrently;
end;
$$;

-- Rows in a projection's tables: exact below a million (by the planner's estimate), the estimate
-- above. Null when the caller may not read one of the tables.
create function {{schema}}.projection_rows(p_name text) returns bigint
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_table text;
  v_rel regclass;
  v_estimate real;
  v_count bigint;
  v_rows bigint := 0;
begin
  foreach v_table in array coalesce((select tables from projections where name = p_name), '{}') loop
    v_rel := to_regclass(v_table);
    continue when v_rel is null;
    select c.reltuples into v_estimate from pg_class c where c.oid = v_rel;
    if v_estimate >= 1000000 then
      v_rows := v_rows + v_estimate::bigint;
    elsif not has_table_privilege(v_rel, 'select') then
      return null;
    else
      execute format('select count(*) from %s', v_rel) into v_count;
      v_rows := v_rows + v_count;
    end if;
  end loop;
  return v_rows;
end;
$$;

-- The health of every projection: what it is, how big, how current, and its state:
-- live | rebuilding (with rebuild_percent) | needs rebuild (its version is newer than the code its
-- tables were built with, or it was defined over stored events and never built) | failed (its
-- last rebuild failed; the live tables are still served) | stale (a materialized view with events
-- committed since its last refresh, counted in stale_events). state_text says it in one phrase.
create view {{schema}}.projection_health as
  select p.name,
         p.kind,
         p.version,
         p.built_version,
         p.tables,
         coalesce(h.types, '{}') as handled_types,
         {{schema}}.projection_rows(p.name) as rows,
         case when p.kind = 'trigger' then h.last_position else p.refreshed_position end as last_position,
         p.last_rebuilt_at,
         p.last_replayed_at,
         p.last_refreshed_at,
         s.stale_events,
         r.phase as rebuild_phase,
         r.percent as rebuild_percent,
         st.state,
         case st.state when 'rebuilding' then format('rebuilding %s%%', r.percent)
                       when 'stale' then format('stale (%s event%s)', s.stale_events, case when s.stale_events = 1 then '' else 's' end)
                       else st.state end as state_text
    from {{schema}}.projections p
    left join lateral (
      select array_agg(hh.event_type order by hh.event_type) as types, max(last.id) as last_position
        from {{schema}}.projection_handlers hh
        left join lateral (select max(e.id) as id from {{schema}}.events e where e.type = hh.event_type) last on true
       where hh.projection = p.name
    ) h on true
    left join lateral (
      select case when p.kind <> 'materialized_view' then null
                  when p.refreshed_snapshot is not null then
                    (select count(*) from {{schema}}.events e
                      where e.transaction_id >= pg_snapshot_xmin(p.refreshed_snapshot)
                        and not pg_visible_in_snapshot(e.transaction_id, p.refreshed_snapshot))
                  else (select count(*) from {{schema}}.events e where e.id > coalesce(p.refreshed_position, 0)) end as stale_events
    ) s on true
    left join {{schema}}.rebuild_progress r on r.projection = p.name
    cross join lateral (
      select case when r.phase = 'failed' then 'failed'
                  when r.phase in ('building', 'catching_up', 'swapping') then 'rebuilding'
                  when p.kind = 'trigger' and p.built_version is distinct from p.version then 'needs rebuild'
                  when p.kind = 'materialized_view' and s.stale_events > 0 then 'stale'
                  else 'live' end as state
    ) st;

comment on view {{schema}}.projection_health is 'Per projection: kind, version, tables, handled types, rows, last event applied, last rebuild, staleness and state.';

-- Rebuild progress and projection health are for the store's owner: grant_reader does not grant
-- them (readers' `status` reports projections without health).
revoke all on procedure {{schema}}.rebuild_projection(text, boolean, int) from public;
