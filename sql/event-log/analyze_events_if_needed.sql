-- Statistics for the events table when it has none yet (right after a bulk load, before
-- autovacuum's ANALYZE): a replay's or rebuild's batches, `id > $1 and type = any($2) order by id
-- limit $3`, then walk the primary key instead of sorting every later event of those types per
-- batch, which made a replay of 1M freshly loaded events quadratic. A role that does not own the
-- table gets a warning from ANALYZE, not an error.
-- For a partitioned log (partition_events.sql), its partitions' statistics count: autovacuum never
-- analyzes the parent itself.
create or replace function {{schema}}.analyze_events_if_needed() returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  if exists (select 1 from pg_class c
              where (c.oid = '{{schema}}.events'::regclass and c.relkind = 'r'
                     or c.oid in (select i.inhrelid from pg_inherits i where i.inhparent = '{{schema}}.events'::regclass))
                and c.reltuples < 0) then
    analyze {{schema}}.events;
  end if;
end;
$$;
