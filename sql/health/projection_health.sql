-- The health of every projection: what it is, how big, how current, and its state:
-- live | rebuilding (with rebuild_percent) | needs rebuild (its version is newer than the code its
-- tables were built with, or it was defined over stored events and never built) | failed (its
-- last rebuild failed; the live tables are still served) | stale (a materialized view with events
-- committed since its last refresh, counted in stale_events). state_text says it in one phrase.
create or replace view {{schema}}.projection_health as
  select p.name,
         p.kind,
         p.version,
         p.built_version,
         p.tables,
         coalesce(h.types, '{}') as handled_types,
         {{schema}}.projection_rows(p.name) as rows,
         case when p.kind = 'trigger' then h.last_position else p.refreshed_position end as last_position,
         p.last_rebuilt_at,
         p.last_replayed_at,
         p.last_refreshed_at,
         s.stale_events,
         r.phase as rebuild_phase,
         r.percent as rebuild_percent,
         st.state,
         case st.state when 'rebuilding' then format('rebuilding %s%%', r.percent)
                       when 'stale' then format('stale (%s event%s)', s.stale_events, case when s.stale_events = 1 then '' else 's' end)
                       else st.state end as state_text
    from {{schema}}.projections p
    left join lateral (
      select array_agg(hh.event_type order by hh.event_type) as types, max(last.id) as last_position
        from {{schema}}.projection_handlers hh
        left join lateral (select max(e.id) as id from {{schema}}.events e where e.type = hh.event_type) last on true
       where hh.projection = p.name
    ) h on true
    left join lateral (
      select case when p.kind <> 'materialized_view' then null
                  when p.refreshed_snapshot is not null then
                    (select count(*) from {{schema}}.events e
                      where e.transaction_id >= pg_snapshot_xmin(p.refreshed_snapshot)
                        and not pg_visible_in_snapshot(e.transaction_id, p.refreshed_snapshot))
                  else (select count(*) from {{schema}}.events e where e.id > coalesce(p.refreshed_position, 0)) end as stale_events
    ) s on true
    left join {{schema}}.rebuild_progress r on r.projection = p.name
    cross join lateral (
      select case when r.phase = 'failed' then 'failed'
                  when r.phase in ('building', 'catching_up', 'swapping') then 'rebuilding'
                  when p.kind = 'trigger' and p.built_version is distinct from p.version then 'needs rebuild'
                  when p.kind = 'materialized_view' and s.stale_events > 0 then 'stale'
                  else 'live' end as state
    ) st;

comment on view {{schema}}.projection_health is 'Per projection: kind, version, tables, handled types, rows, last event applied, last rebuild, staleness and state.';
