-- First half of a replay: check, lock the projection against concurrent appends of its event
-- types, clear what will be rebuilt, and return how many events will be applied. Then call
-- replay_step until it applies nothing, in the same transaction.
-- Clearing: with no filter, every table of the projection is emptied and its identity columns and
-- serials restart (clear_projection_tables); with only p_stream, that stream's rows (by the
-- projection's stream column) are deleted; with p_types or p_from_position, nothing is cleared and
-- the handlers are simply run again over those events.
create or replace function {{schema}}.replay_start(
  p_name text,
  p_stream uuid default null,
  p_types text[] default null,
  p_from_position bigint default null
) returns bigint
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_handled text[];
  v_table text;
  v_total bigint;
begin
  -- Statistics first, when the events table has none (right after a bulk load): the batches of
  -- replay_step then walk the primary key instead of sorting every later event per batch.
  perform analyze_events_if_needed();
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  if v_projection.kind <> 'trigger' then
    raise exception 'Projection % is a materialized view: refresh it instead of replaying it', p_name
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = format('select {{schema}}.refresh_materialized_view(%L)', p_name);
  end if;
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'Replay of % needs READ COMMITTED isolation, not %', p_name, current_setting('transaction_isolation')
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = 'Run the replay in its own READ COMMITTED transaction, so that it sees every committed append.';
  end if;
  if p_from_position is not null and p_from_position < 1 then
    raise exception 'Invalid replay of %: from position must be at least 1, not %', p_name, p_from_position
      using errcode = 'PE003', detail = json_build_object('projection', p_name, 'field', 'from_position')::text;
  end if;
  if p_stream is not null and p_types is null and p_from_position is null
     and v_projection.stream_column is null and cardinality(v_projection.tables) > 0 then
    raise exception 'Projection % cannot replay one stream: it declares no stream column', p_name
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = 'Define the projection again with p_stream_column, the column of its tables that holds the stream uuid.';
  end if;

  perform pg_advisory_xact_lock(1885824374, projection_lock_key(p_name));

  if p_types is null and p_from_position is null then
    if p_stream is null then
      perform clear_projection_tables(v_projection.tables);
    else
      foreach v_table in array v_projection.tables loop
        execute format('delete from %s where %I = $1', to_regclass(v_table), v_projection.stream_column)
          using p_stream;
      end loop;
    end if;
  end if;

  select array_agg(event_type) into v_handled from projection_handlers where projection = p_name;
  select count(*) into v_total
    from events
   where type = any(upcast_sources(v_handled))
     and (p_types is null or type = any(upcast_sources(p_types)))
     and (p_stream is null or uuid = p_stream)
     and id >= coalesce(p_from_position, 1);

  -- A full replay (no filter) leaves the tables built with the projection's current version.
  update projections
     set last_replayed_at = statement_timestamp(),
         built_version = case when p_stream is null and p_types is null and p_from_position is null
                              then version else built_version end
   where name = p_name;
  return v_total;
end;
$$;


-- Empties the tables of a full replay and restarts their identity columns and serials, as
-- `truncate … restart identity` does, but under MVCC, so that a replay never blocks the readers of
-- the tables: they keep reading the previous rows until it commits, then see the replayed ones.
-- TRUNCATE's ACCESS EXCLUSIVE lock made every reader wait for the whole replay; DELETE takes ROW
-- EXCLUSIVE, which conflicts with no reader. (The online rebuild's shadow tables would keep readers
-- going too, but its swap replaces the tables, which a replay in the caller's transaction must not.)
-- - One statement, a data-modifying CTE per table: foreign keys between the projection's own
--   tables are checked at its end, when all of them are empty, as with one TRUNCATE of them all.
-- - ALTER SEQUENCE … RESTART (to the start value, as TRUNCATE … RESTART IDENTITY) is transactional
--   (it writes the sequence anew, PostgreSQL 10 and later): a replay that fails or is rolled back
--   leaves the numbers where they were, where setval would not be undone and the next insert would
--   collide with a kept row. It locks only the sequence (SHARE ROW EXCLUSIVE): inserts into the
--   tables wait for the replay, as appends of the projection's types do anyway; readers do not.
-- - The price: the old rows stay as dead tuples, and their index entries, until (auto)vacuum
--   reclaims them (the tables take up to twice their space meanwhile), and the replay inserts
--   beside them, which is slower than into empty tables (docs/sql-api.md has measurements).
-- TRUNCATE it stays where a DELETE would not do the same or gains nothing (readers then wait):
-- - in a standalone backend (single-user mode, which the embedded engine runs): there is no other
--   session to keep reading, and no autovacuum would ever reclaim the dead rows;
-- - for a table that is not a plain table, or has inheritance children (TRUNCATE empties them and
--   restarts their sequences too);
-- - that rows outside the projection reference (TRUNCATE refuses; a DELETE could cascade into them);
-- - whose row-level security applies to the caller (a DELETE would keep the rows it cannot see);
-- - with DELETE or TRUNCATE triggers, or DELETE rules (they would fire, or not, differently);
-- - in a publication (its subscribers would get a DELETE of every row instead of one TRUNCATE).
create or replace function {{schema}}.clear_projection_tables(p_tables text[]) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_rels regclass[] := array(select r from unnest(p_tables) t, to_regclass(t) r where r is not null);
  v_sequence regclass;
begin
  if cardinality(v_rels) = 0 then
    return;
  end if;
  if (select a.backend_type from pg_stat_activity a where a.pid = pg_backend_pid()) = 'standalone backend'
     or exists (
       select 1
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
        where c.oid = any(v_rels::oid[])
          and (c.relkind <> 'r'
               or exists (select 1 from pg_inherits i where i.inhparent = c.oid)
               or exists (select 1 from pg_constraint k
                           where k.contype = 'f' and k.confrelid = c.oid and k.conrelid <> all(v_rels::oid[]))
               or row_security_active(c.oid)
               -- tgtype bits 8 and 32: DELETE and TRUNCATE; ev_type '4': a DELETE rule
               or exists (select 1 from pg_trigger g
                           where g.tgrelid = c.oid and not g.tgisinternal and g.tgtype & (8 | 32) <> 0)
               or exists (select 1 from pg_rewrite r where r.ev_class = c.oid and r.ev_type = '4')
               or exists (select 1 from pg_publication_tables p
                           where p.schemaname = n.nspname and p.tablename = c.relname))) then
    execute format('truncate %s restart identity', array_to_string(v_rels, ', '));
    return;
  end if;

  execute (select 'with ' || string_agg(format('d%s as (delete from %s)', u.n, u.rel), ', ' order by u.n) || ' select'
             from unnest(v_rels) with ordinality u(rel, n));
  for v_sequence in
    select distinct s.oid::regclass
      from pg_depend d
      join pg_class s on s.oid = d.objid and s.relkind = 'S'
     where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass
       and d.refobjid = any(v_rels::oid[]) and d.deptype in ('a', 'i')
     order by 1
  loop
    execute format('alter sequence %s restart', v_sequence);
  end loop;
end;
$$;
