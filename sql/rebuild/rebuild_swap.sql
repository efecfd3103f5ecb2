-- Makes the shadow tables live, in the caller's transaction, which must be READ COMMITTED:
-- takes the projection's advisory lock exclusively (appends of the event types it handles now
-- wait), applies every event not applied yet, copies owner, grants, row security and comments,
-- replaces the live tables with the shadows, and records the rebuild. Locks are waited for at most
-- p_lock_timeout each; when one is not granted in time nothing changes and PE023 is raised: catch
-- up (rebuild_step) and try again. A handler error marks the rebuild failed, as in rebuild_step.
create or replace function {{schema}}.rebuild_swap(p_name text, p_lock_timeout text default '500ms')
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
