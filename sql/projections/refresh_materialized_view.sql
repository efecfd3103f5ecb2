-- Refresh a materialized view projection; concurrently (readers are not blocked) when it has a
-- unique index and is populated. Returns true when the refresh ran concurrently. The snapshot
-- taken before the refresh is recorded, so that staleness counts the events committed since (at
-- most a few too many, never too few).
create or replace function {{schema}}.refresh_materialized_view(p_name text) returns boolean
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_rel regclass;
  v_concurrently boolean;
  v_snapshot pg_snapshot := pg_current_snapshot();
begin
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  if v_projection.kind <> 'materialized_view' then
    raise exception 'Projection % is not a materialized view: replay it instead', p_name
      using errcode = 'PE008', detail = json_build_object('projection', p_name)::text,
            hint = format('select {{schema}}.replay_projection(%L)', p_name);
  end if;
  v_rel := to_regclass(v_projection.tables[1]);
  if v_rel is null then
    raise exception 'Materialized view % of projection % no longer exists', v_projection.tables[1], p_name
      using errcode = 'PE006', detail = json_build_object('projection', p_name)::text,
            hint = format('Drop the projection and define it again: select {{schema}}.drop_projection(%L)', p_name);
  end if;
  v_concurrently := exists (select 1 from pg_index where indrelid = v_rel and indisunique and indpred is null)
                    and (select relispopulated from pg_class where oid = v_rel);
  execute format('refresh materialized view %s %s',
                 case when v_concurrently then 'concurrently' else '' end, v_rel);
  update projections
     set last_refreshed_at = statement_timestamp(), refreshed_position = (select max(id) from events),
         refreshed_snapshot = v_snapshot
   where name = p_name;
  return v_concurrently;
end;
$$;

