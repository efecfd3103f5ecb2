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
  -- ones when null) and not in p_prev, in position order (the primary key for round 0, the
  -- transaction index after).
  perform create_apply_function(format('%I.apply_events', p_schema), 'p_prev pg_snapshot, p_cur pg_snapshot', false,
    $filters$case when p_cur is null then '' else ' and pg_visible_in_snapshot(e.transaction_id, $3)' end
    || case when p_prev is null then ''
            else ' and e.transaction_id >= pg_snapshot_xmin($4) and not pg_visible_in_snapshot(e.transaction_id, $4)' end$filters$,
    'p_cur, p_prev', p_name, v_code.types, v_code.batch, v_code.dispatch);
  execute format('revoke all on function %I.apply_events(bigint, int, pg_snapshot, pg_snapshot) from public', p_schema);
end;
$$;
