-- Gap-safe reading by cursor, for subscriptions and async projections.
--
-- A cursor is the text '<transaction id>-<position>': a place in the gap-safe total order
-- (transaction_id, id) of the events. 'start' is '0-0'. Readers only ever see events whose
-- writing transaction has finished (transaction_id < safe_horizon(), see safe_horizon.sql), so no
-- event can later appear before a cursor that has been handed out.

-- The events that are safe to read: every transaction that could still add an event before them
-- has finished. Read them in (transaction_id, id) order and resume after a row's cursor.
create or replace view {{schema}}.safe_events as
  select e.id, e.uuid, e.version, e.type, e.body, e.metadata, e.event_id, e.inserted_at, e.transaction_id,
         e.transaction_id::text || '-' || e.id::text as cursor,
         e.type_version
    from {{schema}}.current_events e
   where e.transaction_id < (select {{schema}}.safe_horizon());

comment on view {{schema}}.safe_events is 'Events of finished transactions only. Order by (transaction_id, id) and resume after the cursor of the last row read.';
