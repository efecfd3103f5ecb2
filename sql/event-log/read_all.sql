-- Gap-safe read of the whole log: only events whose writing transaction has finished, in the
-- stable total order (transaction_id, id), each in its current shape (current_events). An event
-- can never later appear before a cursor that this function has handed out, because every
-- transaction below safe_horizon() that might write this database's events has ended. The horizon
-- is computed once per call (an InitPlan).
create or replace function {{schema}}.read_all(
  p_after_transaction_id xid8 default '0',
  p_after_position bigint default 0,
  p_limit int default 1000,
  p_types text[] default null
) returns setof {{schema}}.events
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
declare
  v_sources text[] := upcast_sources(p_types);
  v_as_stored boolean := types_read_as_stored(p_types);
begin
  return query
    select e.id, e.uuid, e.version, e.type, e.body, e.metadata, e.event_id, e.inserted_at, e.transaction_id, e.type_version, e.archived, e.tenant
      from current_events e
     where (e.transaction_id, e.id) > (p_after_transaction_id, p_after_position)
       and e.transaction_id < (select safe_horizon())
       and (p_types is null or (e.stored_type = any(v_sources) and (v_as_stored or e.type = any(p_types))))
     order by e.transaction_id, e.id
     limit p_limit;
end;
$$;
