-- Rebuilds the projection into a scratch copy within the caller's transaction and reports how it
-- differs from the live tables; the scratch copy is dropped before returning. In REPEATABLE READ
-- (or SERIALIZABLE) both sides are read at the transaction's snapshot and appends go on; in READ
-- COMMITTED the projection's lock is taken, so appends of its event types wait until the caller's
-- transaction ends. p_ignore_columns: columns left out of the comparison (e.g. set by now()).
-- Returns {"projection", "equal", "tables": [{"table", "live_rows", "rebuilt_rows", "missing",
-- "extra", "different", "samples": {"missing": [...], "extra": [...], "different": [{"live", "rebuilt"}]}}]}:
-- missing are rows a rebuild has and the live table lacks, extra the reverse, different the rows
-- whose primary key is on both sides with other values. A materialized view is compared with
-- what its query returns now.
create or replace function {{schema}}.verify_projection(
  p_name text,
  p_ignore_columns text[] default null,
  p_sample_size int default 10
) returns jsonb
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_schema name := rebuild_schema_name(p_name, 'verify');
  v_before jsonb;
  v_table text;
  v_rel regclass;
  v_scratch text;
  v_columns text;
  v_key text[];
  v_key_match text;
  v_result record;
  v_tables jsonb := '[]';
  v_equal boolean := true;
  v_ignored_found text[] := '{}';
  v_unknown text;
  v_query text;
  v_dummy record;
begin
  select * into v_projection from projections where name = p_name;
  if not found then
    perform raise_unknown_projection(p_name);
  end if;
  if p_sample_size is null or p_sample_size < 0 then
    raise exception 'Invalid sample size for verify of %: %', p_name, coalesce(p_sample_size::text, 'null')
      using errcode = 'PE025', detail = json_build_object('projection', p_name, 'field', 'sample_size')::text;
  end if;

  if v_projection.kind = 'trigger' then
    if current_setting('transaction_isolation') = 'read committed' then
      perform pg_advisory_xact_lock(1885824374, projection_lock_key(p_name));
    end if;
    v_before := table_touch_counts(v_schema);
    perform create_shadow(p_name, v_schema, false);
    if v_projection.rebuild_sql is not null then
      perform run_rebuild_sql(p_name, v_schema);
    else
      execute format('select applied from %I.apply_events(0, null, null, null)', v_schema) into v_dummy;
    end if;
    perform check_shadow_only(p_name, v_schema, v_before);
  else
    if to_regclass(v_projection.tables[1]) is null then
      perform raise_rebuild_refused(p_name, format('its materialized view %s no longer exists', v_projection.tables[1]),
        format('Drop the projection and define it again: select {{schema}}.drop_projection(%L)', p_name));
    end if;
    execute format('drop schema if exists %I cascade', v_schema);
    execute format('create schema %I', v_schema);
    execute format('create table %I.%I as %s', v_schema, (parse_ident(v_projection.tables[1]))[2],
                   rtrim(btrim(pg_get_viewdef(to_regclass(v_projection.tables[1]))), ';'));
  end if;

  foreach v_table in array v_projection.tables loop
    v_rel := to_regclass(v_table);
    v_scratch := format('%I.%I', v_schema, (select relname from pg_class where oid = v_rel));
    select string_agg(case when a.atttypid in ('json'::regtype, 'xml'::regtype) or t.typcategory = 'G'
                           then format('%I::text as %I', a.attname, a.attname) else format('%I', a.attname) end,
                      ', ' order by a.attnum)
      into v_columns
      from pg_attribute a join pg_type t on t.oid = a.atttypid
     where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped
       and not a.attname = any(coalesce(p_ignore_columns, '{}'));
    v_ignored_found := v_ignored_found || array(
      select a.attname::text from pg_attribute a
       where a.attrelid = v_rel and a.attnum > 0 and not a.attisdropped and a.attname = any(coalesce(p_ignore_columns, '{}')));
    if v_columns is null then
      raise exception 'Invalid verify of %: every column of % is ignored', p_name, v_rel
        using errcode = 'PE025', detail = json_build_object('projection', p_name, 'field', 'ignore_columns')::text;
    end if;
    -- Rows are paired by the primary key (else the first unique index without expressions or
    -- predicate), when none of its columns is ignored.
    select array_agg(a.attname::text order by k.ord) into v_key
      from (select i.indexrelid, i.indkey from pg_index i
             where i.indrelid = v_rel and i.indisunique and i.indexprs is null and i.indpred is null
             order by i.indisprimary desc, i.indexrelid limit 1) i
      cross join unnest(i.indkey::int2[]) with ordinality k(attnum, ord)
      join pg_attribute a on a.attrelid = v_rel and a.attnum = k.attnum;
    if v_key is not null and v_key && coalesce(p_ignore_columns, '{}') then
      v_key := null;
    end if;
    v_key_match := case when v_key is null then null else
      (select format('(%s) = (%s)', string_agg(format('m.%I', c), ', '), string_agg(format('x.%I', c), ', ')) from unnest(v_key) c) end;
    v_query := format($q$
      with rebuilt as (select %1$s from %2$s),
           live as (select %1$s from %3$s),
           m as (select * from rebuilt except all select * from live),
           x as (select * from live except all select * from rebuilt)
      select (select count(*) from live) as live_rows,
             (select count(*) from rebuilt) as rebuilt_rows,
             (select count(*) from m) as missing_all,
             (select count(*) from x) as extra_all,
             %4$s as different,
             (select coalesce(jsonb_agg(to_jsonb(s)), '[]') from (select * from m %5$s limit %7$s) s) as missing_samples,
             (select coalesce(jsonb_agg(to_jsonb(s)), '[]') from (select * from x %6$s limit %7$s) s) as extra_samples,
             %8$s as different_samples
    $q$, v_columns, v_scratch, v_rel,
      case when v_key is null then '0' else format('(select count(*) from m join x on %s)', v_key_match) end,
      case when v_key is null then '' else format('m where not exists (select 1 from x where %s)', v_key_match) end,
      case when v_key is null then '' else format('x where not exists (select 1 from m where %s)', v_key_match) end,
      p_sample_size,
      case when v_key is null then '''[]''::jsonb' else format(
        '(select coalesce(jsonb_agg(jsonb_build_object(''live'', s.live, ''rebuilt'', s.rebuilt)), ''[]'') from (select to_jsonb(x) as live, to_jsonb(m) as rebuilt from m join x on %s limit %s) s)',
        v_key_match, p_sample_size) end);
    execute v_query into v_result;
    v_tables := v_tables || jsonb_build_object(
      'table', v_table,
      'live_rows', v_result.live_rows,
      'rebuilt_rows', v_result.rebuilt_rows,
      'missing', v_result.missing_all - v_result.different,
      'extra', v_result.extra_all - v_result.different,
      'different', v_result.different,
      'key', to_jsonb(v_key),
      'samples', jsonb_build_object('missing', v_result.missing_samples, 'extra', v_result.extra_samples,
                                    'different', v_result.different_samples));
    v_equal := v_equal and v_result.missing_all = 0 and v_result.extra_all = 0;
  end loop;
  select c into v_unknown from unnest(coalesce(p_ignore_columns, '{}')) c where not c = any(v_ignored_found) limit 1;
  if found then
    raise exception 'Invalid verify of %: no table of the projection has the column % to ignore', p_name, v_unknown
      using errcode = 'PE025', detail = json_build_object('projection', p_name, 'field', 'ignore_columns', 'column', v_unknown)::text,
            hint = 'Name columns of the projection''s tables.';
  end if;
  execute format('drop schema %I cascade', v_schema);
  return jsonb_build_object('projection', p_name, 'equal', v_equal, 'ignored_columns', to_jsonb(coalesce(p_ignore_columns, '{}')),
                            'tables', v_tables);
end;
$$;
