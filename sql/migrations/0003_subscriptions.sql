-- pgevents 0003: gap-safe reading by cursor, durable subscriptions and async projections.
--
-- A cursor is the text '<transaction id>-<position>': a place in the gap-safe total order
-- (transaction_id, id) of the events. 'start' is '0-0'. Readers only ever see events whose
-- writing transaction has finished (transaction_id < pg_snapshot_xmin(pg_current_snapshot())),
-- so no event can later appear before a cursor that has been handed out.

-- The events that are safe to read: every transaction that could still add an event before them
-- has finished. Read them in (transaction_id, id) order and resume after a row's cursor.
create view {{schema}}.safe_events as
  select e.id, e.uuid, e.version, e.type, e.body, e.metadata, e.event_id, e.inserted_at, e.transaction_id,
         e.transaction_id::text || '-' || e.id::text as cursor
    from {{schema}}.events e
   where e.transaction_id < pg_snapshot_xmin(pg_current_snapshot());

comment on view {{schema}}.safe_events is 'Events of finished transactions only. Order by (transaction_id, id) and resume after the cursor of the last row read.';

-- The parts of a cursor. Raises PE009 for text that is not a cursor.
create function {{schema}}.parse_cursor(p_cursor text, out transaction_id xid8, out "position" bigint)
language plpgsql
immutable
set search_path = {{schema}}, pg_temp
as $$
begin
  if p_cursor is not null and p_cursor ~ '^[0-9]{1,20}-[0-9]{1,18}$' then
    begin
      transaction_id := split_part(p_cursor, '-', 1)::xid8;
      "position" := split_part(p_cursor, '-', 2)::bigint;
      return;
    exception when others then
      -- an out-of-range number: reported as a malformed cursor below
    end;
  end if;
  raise exception 'Invalid cursor: % is not a cursor', coalesce(quote_literal(left(p_cursor, 60)), 'null')
    using errcode = 'PE009',
          detail = json_build_object('cursor', left(p_cursor, 100), 'reason', 'malformed')::text,
          hint = 'A cursor is ''<transaction id>-<position>'' as handed out by pgevents, e.g. ''1234-56''; or use ''start'' or ''end''.';
end;
$$;

-- Where p_from points: 'start' (or null), 'end' (after the last event safe to read now), or a
-- cursor, which must be the start or the place of an event of this store that is safe to read.
-- Raises PE009 for a malformed or unknown cursor, so that a typo never silently starts from zero.
create function {{schema}}.resolve_cursor(p_from text, out transaction_id xid8, out "position" bigint)
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_xmin xid8 := pg_snapshot_xmin(pg_current_snapshot());
  v_cursor record;
begin
  transaction_id := '0';
  "position" := 0;
  if p_from is null or p_from = 'start' then
    return;
  end if;
  if p_from = 'end' then
    select e.transaction_id, e.id into v_cursor
      from events e
     where e.transaction_id < v_xmin
     order by e.transaction_id desc, e.id desc
     limit 1;
    if found then
      transaction_id := v_cursor.transaction_id;
      "position" := v_cursor.id;
    end if;
    return;
  end if;
  select c.transaction_id, c."position" into v_cursor from parse_cursor(p_from) c;
  if v_cursor.transaction_id = '0'::xid8 and v_cursor."position" = 0 then
    return;
  end if;
  if not exists (select 1 from events e
                  where e.transaction_id = v_cursor.transaction_id and e.id = v_cursor."position"
                    and e.transaction_id < v_xmin) then
    raise exception 'Unknown cursor: % is not the place of an event in this store', p_from
      using errcode = 'PE009',
            detail = json_build_object('cursor', p_from, 'reason', 'unknown')::text,
            hint = 'Use a cursor handed out by this store (readAll, a subscription, pgevents tail), or ''start'' or ''end''.';
  end if;
  transaction_id := v_cursor.transaction_id;
  "position" := v_cursor."position";
end;
$$;

-- Gap-safe read after a cursor, for SQL consumers: the next at most p_limit safe events (of
-- p_types, when given) after p_cursor. Pass the cursor of the last row to read on.
-- Example: select cursor, type, body from pgevents.read_all_after('start', 100);
create function {{schema}}.read_all_after(
  p_cursor text default 'start',
  p_limit int default 1000,
  p_types text[] default null
) returns setof {{schema}}.safe_events
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_after record;
begin
  if p_cursor = 'end' then
    raise exception 'Invalid cursor: ''end'' names no place to read after'
      using errcode = 'PE009', detail = json_build_object('cursor', p_cursor, 'reason', 'malformed')::text,
            hint = 'Read from ''start'' or from a cursor; subscriptions accept ''end''.';
  end if;
  if p_limit is null or p_limit < 1 then
    raise exception 'Invalid limit: % (it must be at least 1)', coalesce(p_limit::text, 'null')
      using errcode = 'PE003', detail = json_build_object('field', 'limit')::text;
  end if;
  select r.transaction_id, r."position" into v_after from resolve_cursor(coalesce(p_cursor, 'start')) r;
  return query
    select s.* from safe_events s
     where (s.transaction_id, s.id) > (v_after.transaction_id, v_after."position")
       and (p_types is null or s.type = any(p_types))
     order by s.transaction_id, s.id
     limit p_limit;
end;
$$;

-- Sessions that want to be woken by appends. Appends send a NOTIFY only while a row exists here,
-- because NOTIFY serialises the commits of every notifying transaction in the cluster.
create table {{schema}}.listeners (
  id uuid primary key,
  pid int not null,
  listening_since timestamptz not null default statement_timestamp()
);

comment on table {{schema}}.listeners is 'Sessions LISTENing on pgevents_<schema>; appends notify only while one is registered.';

-- Registers a listening session, and forgets listeners whose session has ended (a crashed process).
create function {{schema}}.register_listener(p_id uuid) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  delete from listeners l where not exists (select 1 from pg_stat_activity a where a.pid = l.pid);
  insert into listeners (id, pid) values (p_id, pg_backend_pid())
  on conflict (id) do update set pid = excluded.pid, listening_since = excluded.listening_since;
end;
$$;

create function {{schema}}.unregister_listener(p_id uuid) returns void
language sql
set search_path = {{schema}}, pg_temp
as $$
  delete from listeners where id = p_id;
$$;

-- Wakes listeners after an append. The payload carries no event: readers poll from their checkpoint.
-- Definer rights: appending roles need no access to the listeners table.
create function {{schema}}.tg_events__notify() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
begin
  if exists (select 1 from listeners) then
    perform pg_notify('pgevents_{{schema}}', 'events');
  end if;
  return null;
end;
$$;

create trigger events_notify
after insert on {{schema}}.events
for each statement
execute function {{schema}}.tg_events__notify();

-- One row per durable subscription (and async projection): its checkpoint and its state.
-- state: running (a runner delivers), stopped (none does), failed (delivery stopped at the event
-- error_position after `attempts` failures; resume, skip or reset it).
create table {{schema}}.subscriptions (
  name text primary key,
  kind text not null default 'subscription',
  transaction_id xid8 not null default '0',
  "position" bigint not null default 0,
  state text not null default 'stopped',
  types text[],
  tables text[] not null default '{}',
  attempts int not null default 0,
  last_error text,
  error_transaction_id xid8,
  error_position bigint,
  runner text,
  created_at timestamptz not null default statement_timestamp(),
  updated_at timestamptz not null default statement_timestamp(),
  checkpoint_at timestamptz,
  reset_at timestamptz,
  constraint subscriptions_name_valid check (name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  constraint subscriptions_kind_valid check (kind in ('subscription', 'projection')),
  constraint subscriptions_state_valid check (state in ('running', 'stopped', 'failed')),
  constraint subscriptions_failed_names_event check (state <> 'failed' or error_position is not null)
);

comment on table {{schema}}.subscriptions is 'Durable subscriptions and async projections: checkpoint (transaction_id, position) and delivery state.';

-- A runner holds the session advisory lock (1885824376, subscription_lock_key(name)) while it runs
-- the subscription: one runner per name at a time, released when its connection ends.
create function {{schema}}.subscription_lock_key(p_name text) returns int
language sql
immutable
set search_path = {{schema}}, pg_temp
as $$
  select hashtext('{{schema}}.' || p_name);
$$;

create function {{schema}}.subscription_is_locked(p_name text) returns boolean
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select exists (
    select 1 from pg_locks l
     where l.locktype = 'advisory' and l.granted and l.objsubid = 2
       and l.database = (select d.oid from pg_database d where d.datname = current_database())
       and l.classid = 1885824376::oid
       and l.objid = subscription_lock_key(p_name)::oid);
$$;

create function {{schema}}.raise_unknown_subscription(p_name text) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  raise exception 'Unknown subscription: %', p_name
    using errcode = 'PE010', detail = json_build_object('subscription', p_name)::text,
          hint = 'List the subscriptions with `pgevents subscriptions`.';
end;
$$;

create function {{schema}}.check_subscription_name(p_name text) returns void
language plpgsql
immutable
set search_path = {{schema}}, pg_temp
as $$
begin
  if p_name is null or p_name !~ '^[a-z][a-z0-9_-]{0,62}$' then
    raise exception 'Invalid subscription name: %', coalesce(quote_literal(left(p_name, 80)), 'null')
      using errcode = 'PE011', detail = json_build_object('subscription', left(p_name, 80))::text,
            hint = 'Use 1 to 63 characters: a lowercase letter, then lowercase letters, digits, _ or -.';
  end if;
end;
$$;

-- Creates the subscription at p_from ('start', 'end' or a cursor) unless it exists; an existing
-- subscription keeps its checkpoint (p_from is still checked). p_types: the event types it
-- receives, null for all. Returns the subscription.
create function {{schema}}.create_subscription(
  p_name text,
  p_from text default 'start',
  p_types text[] default null
) returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_from record;
  v_subscription subscriptions;
begin
  perform check_subscription_name(p_name);
  select r.transaction_id, r."position" into v_from from resolve_cursor(p_from) r;
  insert into subscriptions (name, transaction_id, "position", types, checkpoint_at)
  values (p_name, v_from.transaction_id, v_from."position", p_types, statement_timestamp())
  on conflict (name) do nothing;
  select * into v_subscription from subscriptions where name = p_name;
  if v_subscription.kind <> 'subscription' then
    raise exception 'Invalid subscription %: an async projection has this name', p_name
      using errcode = 'PE011', detail = json_build_object('subscription', p_name)::text,
            hint = 'Choose another name, or run the projection with startAsyncProjection.';
  end if;
  if v_subscription.types is distinct from p_types then
    update subscriptions set types = p_types, updated_at = statement_timestamp()
     where name = p_name
    returning * into v_subscription;
  end if;
  return v_subscription;
end;
$$;

-- Registers an async projection (TypeScript handlers run by a subscription): its event types and
-- the read-model tables that a replay empties. Starts at the beginning of the log.
create function {{schema}}.define_async_projection(
  p_name text,
  p_types text[],
  p_tables text[] default '{}'
) returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_table text;
  v_rel regclass;
  v_tables text[] := '{}';
  v_subscription subscriptions;
begin
  if p_name is null or p_name !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'Invalid projection name: %', coalesce(quote_literal(left(p_name, 80)), 'null')
      using errcode = 'PE006', detail = json_build_object('projection', left(p_name, 80))::text,
            hint = 'Use 1 to 40 characters: a lowercase letter, then lowercase letters, digits or _.';
  end if;
  if exists (select 1 from projections where name = p_name) then
    raise exception 'Invalid projection %: a trigger or materialized view projection has this name', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  if p_types is null or cardinality(p_types) = 0 then
    raise exception 'Invalid projection %: it handles no event type', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  foreach v_table in array coalesce(p_tables, '{}') loop
    v_rel := to_regclass(v_table);
    if v_rel is null then
      raise exception 'Invalid projection %: table % does not exist', p_name, v_table
        using errcode = 'PE006', detail = json_build_object('projection', p_name, 'table', v_table)::text,
              hint = 'Create the read-model table before starting the projection.';
    end if;
    v_tables := v_tables || (select format('%I.%I', n.nspname, c.relname)
                               from pg_class c join pg_namespace n on n.oid = c.relnamespace
                              where c.oid = v_rel);
  end loop;
  insert into subscriptions (name, kind, types, tables, checkpoint_at)
  values (p_name, 'projection', p_types, v_tables, statement_timestamp())
  on conflict (name) do nothing;
  select * into v_subscription from subscriptions where name = p_name;
  if v_subscription.kind <> 'projection' then
    raise exception 'Invalid projection %: a subscription has this name', p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text;
  end if;
  if v_subscription.types is distinct from p_types or v_subscription.tables is distinct from v_tables then
    update subscriptions set types = p_types, tables = v_tables, updated_at = statement_timestamp()
     where name = p_name
    returning * into v_subscription;
  end if;
  return v_subscription;
end;
$$;

-- A runner took the subscription's lock: it is running, unless it has failed. A failed subscription
-- stays failed (a restart does not retry a poison event again) until it is resumed, skipped or reset.
create function {{schema}}.start_subscription_run(p_name text, p_runner text) returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_subscription subscriptions;
begin
  update subscriptions
     set state = case when state = 'failed' then 'failed' else 'running' end,
         attempts = case when state = 'failed' then attempts else 0 end,
         runner = p_runner, updated_at = statement_timestamp()
   where name = p_name
  returning * into v_subscription;
  if not found then
    perform raise_unknown_subscription(p_name);
  end if;
  return v_subscription;
end;
$$;

-- The runner stopped: a failed subscription stays failed.
create function {{schema}}.stop_subscription_run(p_name text) returns void
language sql
set search_path = {{schema}}, pg_temp
as $$
  update subscriptions
     set state = case when state = 'failed' then 'failed' else 'stopped' end,
         runner = null, updated_at = statement_timestamp()
   where name = p_name;
$$;

-- Moves the checkpoint from (p_from_…) to (p_to_…) and clears any failure. Returns false, changing
-- nothing, when the checkpoint is no longer at p_from (it was reset or skipped meanwhile).
create function {{schema}}.save_subscription_checkpoint(
  p_name text,
  p_from_transaction_id xid8,
  p_from_position bigint,
  p_to_transaction_id xid8,
  p_to_position bigint
) returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  update subscriptions
     set transaction_id = p_to_transaction_id, "position" = p_to_position,
         attempts = 0, last_error = null, error_transaction_id = null, error_position = null,
         checkpoint_at = statement_timestamp(), updated_at = statement_timestamp()
   where name = p_name and transaction_id = p_from_transaction_id and "position" = p_from_position
     and state <> 'failed';
  return found;
end;
$$;

-- Records a failed delivery of the event (p_event_…) right after the checkpoint (p_at_…). After
-- p_max_attempts failures in a row the subscription is failed. Returns the attempts and the state.
create function {{schema}}.record_subscription_failure(
  p_name text,
  p_at_transaction_id xid8,
  p_at_position bigint,
  p_event_transaction_id xid8,
  p_event_position bigint,
  p_error text,
  p_max_attempts int,
  out attempts int,
  out state text
)
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_subscription subscriptions;
  v_attempts int;
begin
  select * into v_subscription from subscriptions s
   where s.name = p_name and s.transaction_id = p_at_transaction_id and s."position" = p_at_position
   for update;
  if not found then
    attempts := 0;
    state := null;
    return;
  end if;
  v_attempts := case when v_subscription.error_position is not distinct from p_event_position
                     then v_subscription.attempts + 1 else 1 end;
  update subscriptions s
     set attempts = v_attempts,
         last_error = left(p_error, 2000),
         error_transaction_id = p_event_transaction_id,
         error_position = p_event_position,
         state = case when v_attempts >= p_max_attempts then 'failed' else s.state end,
         updated_at = statement_timestamp()
   where s.name = p_name
  returning s.attempts, s.state into attempts, state;
end;
$$;

-- The state after an operator's change: running when a runner holds the lock, else stopped.
create function {{schema}}.subscription_run_state(p_name text) returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select case when subscription_is_locked(p_name) then 'running' else 'stopped' end;
$$;

-- Moves a subscription's checkpoint to p_to ('start', 'end' or a cursor) and clears any failure;
-- its runner continues from there. An async projection resets only to 'start': its tables are
-- emptied in the same transaction (a replay). Returns the subscription.
create function {{schema}}.reset_subscription(p_name text, p_to text default 'start') returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_subscription subscriptions;
  v_to record;
begin
  select * into v_subscription from subscriptions where name = p_name for update;
  if not found then
    perform raise_unknown_subscription(p_name);
  end if;
  if v_subscription.kind = 'projection' and coalesce(p_to, 'start') <> 'start' then
    raise exception 'Async projection % resets only to the start (its tables are rebuilt), not to %', p_name, p_to
      using errcode = 'PE012', detail = json_build_object('subscription', p_name, 'to', p_to)::text,
            hint = format('select {{schema}}.reset_subscription(%L)', p_name);
  end if;
  select r.transaction_id, r."position" into v_to from resolve_cursor(p_to) r;
  if v_subscription.kind = 'projection' and cardinality(v_subscription.tables) > 0 then
    execute 'truncate ' || (select string_agg(to_regclass(t)::text, ', ') from unnest(v_subscription.tables) t)
            || ' restart identity';
  end if;
  update subscriptions
     set transaction_id = v_to.transaction_id, "position" = v_to."position",
         attempts = 0, last_error = null, error_transaction_id = null, error_position = null,
         state = case when state = 'failed' then subscription_run_state(p_name) else state end,
         checkpoint_at = statement_timestamp(), reset_at = statement_timestamp(), updated_at = statement_timestamp()
   where name = p_name
  returning * into v_subscription;
  perform pg_notify('pgevents_{{schema}}', 'subscription ' || p_name);
  return v_subscription;
end;
$$;

-- Skips the event a failed subscription stopped at: the checkpoint moves past it and delivery
-- goes on with the next event. Returns the subscription.
create function {{schema}}.skip_subscription_event(p_name text) returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_subscription subscriptions;
begin
  select * into v_subscription from subscriptions where name = p_name for update;
  if not found then
    perform raise_unknown_subscription(p_name);
  end if;
  if v_subscription.state <> 'failed' then
    raise exception 'Subscription % has not failed: there is no event to skip', p_name
      using errcode = 'PE012', detail = json_build_object('subscription', p_name, 'state', v_subscription.state)::text,
            hint = 'To move its checkpoint anyway, reset it to a cursor: pgevents subscriptions reset <name> --to <cursor>.';
  end if;
  update subscriptions
     set transaction_id = v_subscription.error_transaction_id, "position" = v_subscription.error_position,
         attempts = 0, last_error = null, error_transaction_id = null, error_position = null,
         state = subscription_run_state(p_name),
         checkpoint_at = statement_timestamp(), updated_at = statement_timestamp()
   where name = p_name
  returning * into v_subscription;
  perform pg_notify('pgevents_{{schema}}', 'subscription ' || p_name);
  return v_subscription;
end;
$$;

-- Retries the event a failed subscription stopped at, with a fresh count of attempts.
create function {{schema}}.resume_subscription(p_name text) returns {{schema}}.subscriptions
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_subscription subscriptions;
begin
  select * into v_subscription from subscriptions where name = p_name for update;
  if not found then
    perform raise_unknown_subscription(p_name);
  end if;
  if v_subscription.state <> 'failed' then
    raise exception 'Subscription % has not failed: there is nothing to resume', p_name
      using errcode = 'PE012', detail = json_build_object('subscription', p_name, 'state', v_subscription.state)::text,
            hint = 'A stopped subscription resumes when its process subscribes again.';
  end if;
  update subscriptions
     set attempts = 0, state = subscription_run_state(p_name), updated_at = statement_timestamp()
   where name = p_name
  returning * into v_subscription;
  perform pg_notify('pgevents_{{schema}}', 'subscription ' || p_name);
  return v_subscription;
end;
$$;

-- Every subscription with its checkpoint, its lag and its state as it really is: a subscription
-- recorded as running whose runner holds no lock any more (the process died) shows as stopped.
-- lag_events: events after the checkpoint it has yet to handle (of its types);
-- lag_seconds: how long the oldest of them has waited;
-- held_back_events: those of them already committed but not yet safe to read, because an older
-- transaction somewhere in the cluster is still open.
create view {{schema}}.subscription_status as
  select s.name,
         s.kind,
         case when s.state = 'failed' then 'failed'
              when s.state = 'running' and {{schema}}.subscription_is_locked(s.name) then 'running'
              else 'stopped' end as state,
         s.transaction_id::text || '-' || s."position"::text as checkpoint,
         lag.events as lag_events,
         coalesce(extract(epoch from statement_timestamp() - lag.oldest), 0)::float8 as lag_seconds,
         lag.held_back as held_back_events,
         s.attempts,
         s.last_error,
         s.error_position,
         s.error_transaction_id::text || '-' || s.error_position::text as error_cursor,
         fe.type as error_event_type,
         fe.uuid as error_stream,
         fe.version as error_version,
         s.types,
         s.tables,
         s.runner,
         s.created_at,
         s.updated_at,
         s.checkpoint_at,
         s.reset_at
    from {{schema}}.subscriptions s
   cross join lateral (
     select count(*) as events,
            min(e.inserted_at) as oldest,
            count(*) filter (where e.transaction_id >= pg_snapshot_xmin(pg_current_snapshot())) as held_back
       from {{schema}}.events e
      where (e.transaction_id, e.id) > (s.transaction_id, s."position")
        and (s.types is null or e.type = any(s.types))
   ) lag
    left join {{schema}}.events fe on fe.id = s.error_position;
