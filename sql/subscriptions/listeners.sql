-- Registers a listening session, and forgets listeners whose session has ended (a crashed process).
-- Security definer: a subscriber registers and unregisters its own session without any privilege
-- on the listeners table. A listener registers asleep: appends notify it.
create or replace function {{schema}}.register_listener(p_id uuid) returns void
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
begin
  delete from listeners l where not exists (select 1 from pg_stat_activity a where a.pid = l.pid);
  insert into listeners (id, pid) values (p_id, pg_backend_pid())
  on conflict (id) do update set pid = excluded.pid, listening_since = excluded.listening_since, awake = false;
end;
$$;

-- Unregisters a listener of this session (another session's listener stays: a role cannot silence
-- the wake-ups of others).
create or replace function {{schema}}.unregister_listener(p_id uuid) returns void
language sql
security definer
set search_path = {{schema}}, pg_temp
as $$
  delete from listeners where id = p_id and pid = pg_backend_pid();
$$;

-- Marks a listener of this session awake (it reads again by itself while writers are at work, so
-- appends need not notify it) or asleep (appends notify it). The protocol, which loses no wake-up:
-- * an append's statement trigger reads the listeners after its rows are inserted, so from before
--   that read until its transaction ends the writer holds its ROW EXCLUSIVE lock on events; it
--   notifies when some listener is asleep (a writer in REPEATABLE READ or SERIALIZABLE, whose
--   read could be older than its lock, notifies whenever one listens);
-- * a reader that has read everything goes to sleep in three statements: this function (asleep,
--   committed), then events_writers_active(), then a read of the events. A writer that saw it
--   awake either still holds its lock at the second statement (the reader stays awake and reads
--   again soon), or had committed before it, and its events are in the read. Writers that come
--   later see the reader asleep and notify.
create or replace function {{schema}}.set_listener_awake(p_id uuid, p_awake boolean) returns void
language sql
security definer
set search_path = {{schema}}, pg_temp
as $$
  update listeners set awake = p_awake where id = p_id and pid = pg_backend_pid() and awake <> p_awake;
$$;

-- Whether another session's transaction is writing events of this store now (holds a ROW
-- EXCLUSIVE lock on the events table; prepared transactions are not counted: their COMMIT
-- PREPARED notifies nobody either way, and readers poll while they hold events back).
create or replace function {{schema}}.events_writers_active() returns boolean
language sql
volatile
set search_path = {{schema}}, pg_temp
as $$
  select exists (
    select 1 from pg_locks l
     where l.locktype = 'relation'
       and l.database = (select d.oid from pg_database d where d.datname = current_database())
       and l.relation = '{{schema}}.events'::regclass
       and l.mode = 'RowExclusiveLock'
       and l.pid <> pg_backend_pid());
$$;
