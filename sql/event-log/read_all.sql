-- Gap-safe read of the whole log: only events whose writing transaction has finished, in the
-- stable total order (transaction_id, id). An event can never later appear before a cursor that
-- this function has handed out, because every transaction below safe_horizon() that might write
-- this database's events has ended. The horizon is computed once per call (an InitPlan).
create or replace function {{schema}}.read_all(
  p_after_transaction_id xid8 default '0',
  p_after_position bigint default 0,
  p_limit int default 1000,
  p_types text[] default null
) returns setof {{schema}}.events
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select * from events
   where (transaction_id, id) > (p_after_transaction_id, p_after_position)
     and transaction_id < (select safe_horizon())
     and (p_types is null or type = any(p_types))
   order by transaction_id, id
   limit p_limit;
$$;
