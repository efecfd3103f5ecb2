-- An online rebuild builds a projection's tables anew in shadow copies (in a schema of their own)
-- while the live tables keep serving reads and the projection's trigger keeps applying appends to
-- them, then swaps shadow and live in one short transaction: rebuild_start, rebuild_step until the
-- phase is 'swapping', rebuild_swap (or call rebuild_projection, which does all three).
--
-- Which events a rebuild has applied is tracked with snapshots, not with a position cursor. Round 0
-- applies every handled event visible in the snapshot taken at the start, in position order; each
-- later round applies the events that became visible between the previous round's snapshot and a
-- new one, in position order. Within a stream, the events visible in any snapshot are always its
-- first n versions (an append waits for the stream's previous append to commit), so every stream's
-- events are applied in version order, as a replay and the live trigger apply them; ordering by
-- (transaction_id, position) instead would not guarantee that.

-- Starts (or resumes) an online rebuild and returns its progress. An unfinished rebuild of the same
-- definition is resumed unless p_restart; one of a changed definition must be restarted (PE021).
-- A fresh start creates the shadow tables and takes the snapshot of round 0. With a rebuild
-- statement (the fast path) it also runs that statement, which needs the snapshot it reads with to
-- be the transaction's: call it in a REPEATABLE READ transaction (PE020 otherwise).
create or replace function {{schema}}.rebuild_start(p_name text, p_restart boolean default false)
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
  v_started timestamptz;
begin
  -- Statistics first, when the events table has none (right after a bulk load).
  perform analyze_events_if_needed();
  v_started := clock_timestamp();
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
   where e.type = any(upcast_sources(v_types)) and pg_visible_in_snapshot(e.transaction_id, v_snapshot);

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

