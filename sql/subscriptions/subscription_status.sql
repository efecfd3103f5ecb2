-- Every subscription with its checkpoint, its lag and its state as it really is: a subscription
-- recorded as running whose runner holds no lock any more (the process died) shows as stopped.
-- lag_events: events after the checkpoint it has yet to handle (of its types);
-- lag_seconds: how long the oldest of them has waited;
-- held_back_events: those of them already committed but not yet safe to read, because an older
-- transaction that might write this database's events is still open (safe_horizon).
-- owner: the role that created it (null: created before pgevents 0008).
create or replace view {{schema}}.subscription_status as
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
         s.reset_at,
         s.owner
    from {{schema}}.subscriptions s
   cross join lateral (
     select count(*) as events,
            min(e.inserted_at) as oldest,
            count(*) filter (where e.transaction_id >= (select {{schema}}.safe_horizon())) as held_back
       from {{schema}}.events e
      where (e.transaction_id, e.id) > (s.transaction_id, s."position")
        and (s.types is null or e.type = any(s.types))
   ) lag
    left join {{schema}}.events fe on fe.id = s.error_position;
