-- Every stored event type with its count and the projections that handle it; an event type with
-- no handler is reported here (the seed itself mixed up user_update and update_user).
create or replace view {{schema}}.event_types as
  select e.type,
         count(*) as events,
         max(e.id) as last_position,
         coalesce((select array_agg(h.projection order by h.projection)
                     from {{schema}}.projection_handlers h where h.event_type = e.type), '{}') as handled_by
    from {{schema}}.events e
   group by e.type;
