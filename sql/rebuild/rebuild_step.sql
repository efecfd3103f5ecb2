-- Applies the next batch (at most p_batch_size events) of a rebuild and returns its progress.
-- When a round is complete it starts the next one with a new snapshot; once a round has at most
-- one batch to apply (or after 20 rounds, when appends outpace the rebuild) the phase is
-- 'swapping': call rebuild_swap. A handler error is not raised: the rebuild is recorded as
-- 'failed' with the error, and the progress returned says so (rebuild_start resumes it).
create or replace function {{schema}}.rebuild_step(p_name text, p_batch_size int default 5000)
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
     where e.type = any(upcast_sources(v_types))
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
