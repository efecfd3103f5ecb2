-- The gap-safe read horizon: every reader (read_all, safe_events, resolve_cursor,
-- subscription_status and the TypeScript reads) returns only events with
-- transaction_id < safe_horizon(), in (transaction_id, id) order.
--
-- It is the oldest transaction of the current snapshot that is still running and might write this
-- database's events: the reader's own (when it has an id), and every in-progress id of the snapshot
-- (pg_snapshot_xip) except those proven to belong to another database of the cluster; or the
-- snapshot's xmax when there is none. Every transaction below it has ended or writes elsewhere, and
-- later ones get larger ids, so no event can appear below it later. With no transaction of another
-- database running it equals pg_snapshot_xmin(pg_current_snapshot()), the horizon it refines: a
-- long transaction in another database no longer holds this store's readers back.
--
-- Proven foreign: pg_stat_activity shows the id as backend_xid of a backend connected to another
-- database (datid and backend_xid are shown to every role), or pg_prepared_xacts as a transaction
-- prepared in another database. A transaction id is one transaction's for good and a backend never
-- changes its database, so the proof cannot go stale. Anything else stays held back: an id whose
-- transaction ended (or was prepared) between the snapshot and the look-up, one of a backend without
-- a database, every id on a hot standby (whose snapshots list no running ids).
-- The backend status is read afresh (pg_stat_clear_snapshot), after the snapshot was taken: an id
-- of the snapshot then belongs to the backend that has held it since before the snapshot, never to
-- a backend that read earlier in the transaction would have found in its place.
--
-- On a hot standby (pg_is_in_recovery()) it is the snapshot's xmin, which there is the oldest id the
-- standby knows to be running (KnownAssignedXids, rebuilt from the WAL and the primary's
-- running-xacts records), else the xmax after the last replayed commit or abort. An id the standby
-- has not seen in the WAL yet, but which is below the highest id it has seen, counts as running, so
-- the horizon is conservative: every transaction below it has ended on the primary, and its commit
-- (logged before it leaves the primary's proc array) has been replayed. A standby that lags thus
-- hands out fewer events, never a gap. pg_stat_activity there shows no backend_xid of the primary,
-- so nothing is proven foreign: a long transaction in another database holds a standby's readers
-- back, as it did before safe_horizon refined the horizon.
--
-- Call it once per statement (an uncorrelated scalar subquery, a materialized CTE, a variable): it
-- reads pg_stat_activity, and two calls may differ when a foreign transaction ends in between.
-- Events carry their top-level transaction's id (pg_current_xact_id), and pg_snapshot_xip lists
-- top-level ids only, so subtransactions need no look-up.
create or replace function {{schema}}.safe_horizon() returns xid8
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_snapshot pg_snapshot := pg_current_snapshot();
  v_horizon xid8 := pg_snapshot_xmax(v_snapshot);
  v_own xid8 := pg_current_xact_id_if_assigned();
  v_oldest xid8;
begin
  if pg_is_in_recovery() then
    return pg_snapshot_xmin(v_snapshot);
  end if;
  -- A snapshot does not list its own transaction among the running ones.
  if v_own < v_horizon then
    v_horizon := v_own;
  end if;
  -- No running transaction below: nothing to look up (xmin is the oldest running one, or xmax).
  if pg_snapshot_xmin(v_snapshot) >= v_horizon then
    return v_horizon;
  end if;
  perform pg_stat_clear_snapshot();
  select min(x.xid) into v_oldest
    from pg_snapshot_xip(v_snapshot) x(xid)
   where x.xid < v_horizon
     and x.xid::xid not in (
           select a.backend_xid from pg_stat_get_activity(null) a
            where a.backend_xid is not null and a.datid is not null
              and a.datid <> (select d.oid from pg_database d where d.datname = current_database())
           union all
           select p.transaction from pg_prepared_xact() p
            where p.transaction is not null
              and p.dbid <> (select d.oid from pg_database d where d.datname = current_database()));
  return coalesce(v_oldest, v_horizon);
end;
$$;

comment on function {{schema}}.safe_horizon() is 'The gap-safe read horizon: events with transaction_id below it are final. The oldest running transaction that might write this database (not proven to belong to another one), else the snapshot''s xmax.';
