-- One page for a reader that follows the log after a cursor (subscriptions, pgevents tail): the
-- next at most p_limit safe events of p_types, in their current shape (current_events; kind
-- 'event'); when fewer came, the last safe event
-- of any type (kind 'head': the reader may move its cursor there, because nothing of its types was
-- missed before it); when none came, one row of kind 'held' if committed events of its types after
-- the cursor still wait for an older open transaction. One horizon for all three. A function so
-- that the reader's session plans these queries once, not on every read.
create or replace function {{schema}}.read_page(
  p_after_transaction_id xid8,
  p_after_position bigint,
  p_limit int,
  p_types text[] default null
) returns table (kind text, id bigint, uuid uuid, version bigint, type text, body jsonb, metadata jsonb,
                 event_id uuid, inserted_at timestamptz, transaction_id text, type_version int)
language plpgsql
stable
set search_path = {{schema}}, pg_temp
as $$
#variable_conflict use_column
declare
  v_horizon xid8 := safe_horizon();
  v_sources text[] := upcast_sources(p_types);
  v_as_stored boolean := types_read_as_stored(p_types);
  v_count bigint;
begin
  if p_limit is null or p_limit < 1 then
    raise exception 'Invalid limit: % (it must be at least 1)', coalesce(p_limit::text, 'null')
      using errcode = 'PE003', detail = json_build_object('field', 'limit')::text;
  end if;
  return query
    select 'event', e.id, e.uuid, e.version, e.type, e.body, e.metadata, e.event_id, e.inserted_at, e.transaction_id::text,
           e.type_version
      from current_events e
     where (e.transaction_id, e.id) > (p_after_transaction_id, p_after_position)
       and e.transaction_id < v_horizon
       and (p_types is null or (e.stored_type = any(v_sources) and (v_as_stored or e.type = any(p_types))))
     order by e.transaction_id, e.id
     limit p_limit;
  get diagnostics v_count = row_count;
  if v_count < p_limit then
    return query
      select 'head', e.id, null::uuid, null::bigint, null::text, null::jsonb, null::jsonb, null::uuid, null::timestamptz,
             e.transaction_id::text, null::int
        from events e
       where e.transaction_id < v_horizon
       order by e.transaction_id desc, e.id desc
       limit 1;
  end if;
  if v_count = 0 then
    -- In index order with LIMIT 1, not EXISTS: for EXISTS the planner, blind to the horizon,
    -- expects a sequential scan to find a row soon, and reads the whole table when none is there.
    return query
      select 'held', null::bigint, null::uuid, null::bigint, null::text, null::jsonb, null::jsonb, null::uuid,
             null::timestamptz, null::text, null::int
        from (select 1 from events e
               where e.transaction_id >= v_horizon
                 and (e.transaction_id, e.id) > (p_after_transaction_id, p_after_position)
                 and (p_types is null or e.type = any(v_sources))
               order by e.transaction_id, e.id
               limit 1) h;
  end if;
end;
$$;

comment on function {{schema}}.read_page(xid8, bigint, int, text[]) is 'One page for a reader after a cursor: its events, the last safe event (head) when the page is not full, whether events are held back when it is empty.';
