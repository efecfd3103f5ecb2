-- An online rebuild in one call, for psql: start (or resume), batches, swap, each in a transaction
-- of its own, so that progress is visible in rebuild_progress and an interruption loses at most
-- one batch. Call it on its own, not inside a transaction block:
--   call pgevents.rebuild_projection('users');
-- A swap whose locks are not granted in time is retried after catching up, up to 10 times.
-- (A procedure that commits cannot pin its search_path: every name here is schema-qualified.)
create or replace procedure {{schema}}.rebuild_projection(p_name text, p_restart boolean default false, p_batch_size int default 5000)
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
