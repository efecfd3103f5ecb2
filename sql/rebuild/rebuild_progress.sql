-- Progress of each rebuild, for people and for plain SQL: events applied of the total known so far
-- (the total grows while appends arrive), the rate while the rebuild was working, and the time left.
create or replace view {{schema}}.rebuild_progress as
  select r.projection,
         r.phase,
         r.path,
         r.round,
         r.applied,
         greatest(r.total, r.applied) as total,
         case when greatest(r.total, r.applied) = 0 or r.phase = 'done' then 100::numeric
              else round(100.0 * r.applied / greatest(r.total, r.applied), 1) end as percent,
         case when r.busy_seconds > 0 then round((r.applied / r.busy_seconds)::numeric, 1) end as events_per_second,
         case when r.phase in ('building', 'catching_up', 'swapping') and r.busy_seconds > 0 and r.applied > 0
              then round(((greatest(r.total, r.applied) - r.applied) / (r.applied / r.busy_seconds))::numeric, 1) end as eta_seconds,
         r.version,
         r.shadow_schema,
         r.error,
         r.started_at,
         r.updated_at,
         r.finished_at
    from {{schema}}.rebuilds r;

create or replace function {{schema}}.rebuild_progress_of(p_name text) returns {{schema}}.rebuild_progress
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select * from rebuild_progress where projection = p_name;
$$;
