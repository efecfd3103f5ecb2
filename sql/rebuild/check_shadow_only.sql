-- Per-table counters of this backend's current transaction (scans and row writes), to tell whether
-- a handler reached past the shadow copies. Tables in p_skip_schema and temporary tables are left out.
create or replace function {{schema}}.table_touch_counts(p_skip_schema name) returns jsonb
language sql
volatile
set search_path = {{schema}}, pg_temp
as $$
  select coalesce(jsonb_object_agg(s.relid::text, jsonb_build_array(
           coalesce(s.seq_scan, 0) + coalesce(s.idx_scan, 0), s.n_tup_ins + s.n_tup_upd + s.n_tup_del)), '{}')
    from pg_stat_xact_user_tables s
   where s.schemaname <> p_skip_schema and s.schemaname not like 'pg\_temp\_%'
     and (coalesce(s.seq_scan, 0) + coalesce(s.idx_scan, 0) + s.n_tup_ins + s.n_tup_upd + s.n_tup_del) > 0;
$$;

-- Raises PE022 when, since p_before, this transaction read or wrote one of the projection's live
-- tables, or wrote any other table outside p_schema: a handler (or the rebuild statement) names a
-- table schema-qualified, or writes a table that is not one of the projection's. Nothing is kept:
-- the error rolls the work back, so the live tables stay as they were.
create or replace function {{schema}}.check_shadow_only(p_name text, p_schema name, p_before jsonb) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_after jsonb := table_touch_counts(p_schema);
  v_live oid[];
  v_touched record;
begin
  select array_agg(to_regclass(t)::oid) into v_live from projections p, unnest(p.tables) t where p.name = p_name;
  select a.key::oid::regclass as rel, a.key::oid = any(v_live) as live
    into v_touched
    from jsonb_each(v_after) a
   where (a.key::oid = any(v_live)
          and ((a.value ->> 0)::bigint > coalesce((p_before -> a.key ->> 0)::bigint, 0)
               or (a.value ->> 1)::bigint > coalesce((p_before -> a.key ->> 1)::bigint, 0)))
      or (not a.key::oid = any(v_live) and a.key::oid <> 'rebuilds'::regclass
          and (a.value ->> 1)::bigint > coalesce((p_before -> a.key ->> 1)::bigint, 0))
   limit 1;
  if found then
    raise exception 'Rebuild of projection % stopped: its handlers % %, which is not one of the copies being built',
      p_name, case when v_touched.live then 'read or wrote the live table' else 'wrote the table' end, v_touched.rel
      using errcode = 'PE022',
            detail = json_build_object('projection', p_name, 'table', v_touched.rel::text, 'live', v_touched.live)::text,
            hint = case when v_touched.live
                        then 'Handlers must name the projection''s tables unqualified (their search_path finds them); nothing was changed. Use replay_projection for this projection.'
                        else 'List every table the handlers write in the projection''s tables, or use replay_projection.' end;
  end if;
end;
$$;
