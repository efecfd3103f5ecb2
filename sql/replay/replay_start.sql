-- First half of a replay: check, lock the projection against concurrent appends of its event
-- types, clear what will be rebuilt, and return how many events will be applied. Then call
-- replay_step until it applies nothing, in the same transaction.
-- Clearing: with no filter, every table of the projection is emptied; with only p_stream, that
-- stream's rows (by the projection's stream column) are deleted; with p_types or p_from_position,
-- nothing is cleared and the handlers are simply run again over those events.
create or replace function {{schema}}.replay_start(
  p_name text,
  p_stream uuid default null,
  p_types text[] default null,
  p_from_position bigint default null
) returns bigint
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_handled text[];
  v_table text;
  v_total bigint;
begin
  -- Statistics first, when the events table has none (right after a bulk load): the batches of
  -- replay_step then walk the primary key instead of sorting every later event per batch.
  perform analyze_events_if_needed();
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  if v_projection.kind <> 'trigger' then
    raise exception 'Projection % is a materialized view: refresh it instead of replaying it', p_name
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = format('select {{schema}}.refresh_materialized_view(%L)', p_name);
  end if;
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'Replay of % needs READ COMMITTED isolation, not %', p_name, current_setting('transaction_isolation')
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = 'Run the replay in its own READ COMMITTED transaction, so that it sees every committed append.';
  end if;
  if p_from_position is not null and p_from_position < 1 then
    raise exception 'Invalid replay of %: from position must be at least 1, not %', p_name, p_from_position
      using errcode = 'PE003', detail = json_build_object('projection', p_name, 'field', 'from_position')::text;
  end if;
  if p_stream is not null and p_types is null and p_from_position is null
     and v_projection.stream_column is null and cardinality(v_projection.tables) > 0 then
    raise exception 'Projection % cannot replay one stream: it declares no stream column', p_name
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = 'Define the projection again with p_stream_column, the column of its tables that holds the stream uuid.';
  end if;

  perform pg_advisory_xact_lock(1885824374, projection_lock_key(p_name));

  if p_types is null and p_from_position is null then
    if p_stream is null then
      if cardinality(v_projection.tables) > 0 then
        execute 'truncate ' || (select string_agg(to_regclass(t)::text, ', ') from unnest(v_projection.tables) t)
                || ' restart identity';
      end if;
    else
      foreach v_table in array v_projection.tables loop
        execute format('delete from %s where %I = $1', to_regclass(v_table), v_projection.stream_column)
          using p_stream;
      end loop;
    end if;
  end if;

  select array_agg(event_type) into v_handled from projection_handlers where projection = p_name;
  select count(*) into v_total
    from events
   where type = any(v_handled)
     and (p_types is null or type = any(p_types))
     and (p_stream is null or uuid = p_stream)
     and id >= coalesce(p_from_position, 1);

  -- A full replay (no filter) leaves the tables built with the projection's current version.
  update projections
     set last_replayed_at = statement_timestamp(),
         built_version = case when p_stream is null and p_types is null and p_from_position is null
                              then version else built_version end
   where name = p_name;
  return v_total;
end;
$$;

