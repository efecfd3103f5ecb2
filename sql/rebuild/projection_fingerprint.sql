-- A digest of everything a rebuild depends on: version, tables and their columns, rebuild
-- statement, and each handler's signature, settings and source. A rebuild refuses to continue or
-- swap when it changed since the rebuild began.
create or replace function {{schema}}.projection_fingerprint(p_name text) returns text
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select md5(concat_ws(E'\n',
    p.version::text,
    coalesce(p.rebuild_sql, ''),
    (select string_agg(t || ':' || coalesce((
              select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' order by a.attnum)
                from pg_attribute a
               where a.attrelid = to_regclass(t) and a.attnum > 0 and not a.attisdropped), '?'), E'\n' order by t)
       from unnest(p.tables) t),
    (select string_agg(h.event_type || '=' || h.handler || ':' || coalesce((
              select concat_ws('|', f.prosrc, f.proconfig::text, f.prolang::text)
                from pg_proc f where f.oid = to_regprocedure(h.handler)), '?'), E'\n' order by h.event_type)
       from projection_handlers h where h.projection = p.name)))
    from projections p
   where p.name = p_name;
$$;
