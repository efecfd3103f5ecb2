-- Version assignment for rows that arrive without one. Locking the stream's row and reading the
-- stream's last event in one statement: the subquery runs before the lock is taken, so when the
-- lock had to wait for another writer (who then recorded a higher version on the row, as every
-- writer does at the end of its statement) the subquery's answer may be stale, and is read again.
-- A row of the stream that this transaction inserted last needs neither: the lock is held and its
-- version and position are known. The row this trigger saw last is kept in a transaction-local
-- setting with the count of this transaction's inserts into events at that moment; it is the
-- stream's last row only if exactly one insert came since (its own). A row that was not stored
-- after all (skipped by ON CONFLICT DO NOTHING, or by a later trigger) leaves the count as it was.
-- A forged setting can only make this session's own insert fail (a gap or a duplicate version is
-- refused by the statement's checks and the unique constraint), never store a wrong version.
create or replace function {{schema}}.tg_events__assign_version() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_inserted bigint := pg_stat_get_xact_tuples_inserted(tg_relid);
  v_previous text[] := string_to_array(current_setting('pgevents.assign_{{schema}}', true), '/');
  v_recorded bigint;
  v_last_version bigint;
  v_last_id bigint;
begin
  if v_previous[1] = new.uuid::text and v_previous[4] = (v_inserted - 1)::text then
    v_last_version := v_previous[2]::bigint;
    v_last_id := v_previous[3]::bigint;
  else
    select s.version, l.version, l.id into v_recorded, v_last_version, v_last_id
      from streams s
      left join lateral (select e.version, e.id from events e
                          where e.uuid = s.stream order by e.version desc limit 1) l on true
     where s.stream = new.uuid
       for no key update of s;
    if not found then
      -- A new stream: its row is created (and so held) by this transaction, or by a concurrent
      -- one, whose end the insert waits for; then its events are read after the wait.
      insert into streams (stream, version) values (new.uuid, 0) on conflict (stream) do nothing;
      if not found then
        select s.version into v_recorded from streams s where s.stream = new.uuid for no key update;
        v_last_version := -1;
      end if;
    end if;
    if coalesce(v_last_version, 0) < coalesce(v_recorded, 0) then
      v_last_version := null;
      select e.version, e.id into v_last_version, v_last_id
        from events e where e.uuid = new.uuid order by e.version desc limit 1;
    end if;
  end if;
  new.version := coalesce(v_last_version, 0) + 1;
  -- The position was taken before the lock: a writer that held it may have stored a later one.
  if new.id <= v_last_id then
    new.id := nextval('{{schema}}.events_id_seq');
  end if;
  perform set_config('pgevents.assign_{{schema}}', concat_ws('/', new.uuid, new.version, new.id, v_inserted), true);
  return new;
end;
$$;

create or replace trigger events_assign_version
before insert on {{schema}}.events
for each row
when (new.version is null)
execute function {{schema}}.tg_events__assign_version();
