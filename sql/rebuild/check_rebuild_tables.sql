-- What must hold for a projection's tables to be copied and, with p_for_swap, swapped: refusals
-- name the table and the reason (PE020).
create or replace function {{schema}}.check_rebuild_tables(p_name text, p_for_swap boolean) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_projection projections;
  v_table text;
  v_rel regclass;
  v_class record;
  v_other text;
  v_rels oid[] := '{}';
begin
  select * into v_projection from projections where name = p_name;
  if cardinality(v_projection.tables) = 0 then
    perform raise_rebuild_refused(p_name, 'it declares no tables',
      'Define the projection again with the tables it writes (p_tables).');
  end if;
  foreach v_table in array v_projection.tables loop
    v_rel := to_regclass(v_table);
    if v_rel is null then
      perform raise_rebuild_refused(p_name, format('its table %s does not exist', v_table),
        'Create the table again, or define the projection again without it.', v_table);
    end if;
    v_rels := v_rels || v_rel::oid;
  end loop;
  if (select count(distinct c.relname) from pg_class c where c.oid = any(v_rels)) < cardinality(v_rels) then
    perform raise_rebuild_refused(p_name, 'two of its tables have the same name in different schemas',
      'Rename one of them: the shadow copies share one schema.');
  end if;

  foreach v_table in array v_projection.tables loop
    v_rel := to_regclass(v_table);
    select c.relkind, c.relpersistence, c.relowner into v_class from pg_class c where c.oid = v_rel;
    if v_class.relkind <> 'r' then
      perform raise_rebuild_refused(p_name, format('%s is not a plain table (partitioned tables and views cannot be swapped)', v_rel),
        'Use replay_projection for it.', v_table);
    end if;
    if exists (select 1 from pg_inherits i where i.inhrelid = v_rel or i.inhparent = v_rel) then
      perform raise_rebuild_refused(p_name, format('%s takes part in table inheritance', v_rel),
        'Use replay_projection for it.', v_table);
    end if;
    select p.name into v_other from projections p
     where p.name <> p_name and v_table = any(p.tables) limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('%s is also a table of projection %s', v_rel, v_other),
        'A swap would drop the other projection''s rows: give each projection tables of its own.', v_table);
    end if;
    if not pg_has_role(current_user, v_class.relowner, 'USAGE') then
      perform raise_rebuild_refused(p_name, format('%s is owned by %s, and %s does not have its privileges',
        v_rel, v_class.relowner::regrole, current_user),
        'Run the rebuild as the owner of the read-model tables (or a member of that role).', v_table);
    end if;
    if not p_for_swap then
      continue;
    end if;
    select t.tgname into v_other from pg_trigger t where t.tgrelid = v_rel and not t.tgisinternal limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('%s has the trigger %s, which the shadow copy would not have', v_rel, v_other),
        'Drop the trigger (do its work in the handlers), or use replay_projection.', v_table);
    end if;
    select r.rulename into v_other from pg_rewrite r where r.ev_class = v_rel and r.rulename <> '_RETURN' limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('%s has the rule %s', v_rel, v_other),
        'Drop the rule, or use replay_projection.', v_table);
    end if;
    select format('%s.%s', n.nspname, c.relname) into v_other
      from pg_depend d
      join pg_rewrite r on d.classid = 'pg_rewrite'::regclass and r.oid = d.objid
      join pg_class c on c.oid = r.ev_class
      join pg_namespace n on n.oid = c.relnamespace
     where d.refclassid = 'pg_class'::regclass and d.refobjid = v_rel and r.ev_class <> v_rel
     limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('the view %s depends on %s', v_other, v_rel),
        'Drop the view before the rebuild and create it again after, or use replay_projection.', v_table);
    end if;
    select format('%s (%s)', k.conname, k.conrelid::regclass) into v_other
      from pg_constraint k
     where k.contype = 'f' and k.confrelid = v_rel and not k.conrelid = any(v_rels)
     limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('the foreign key %s references %s', v_other, v_rel),
        'Only foreign keys between the projection''s own tables survive a swap: drop it, or use replay_projection.', v_table);
    end if;
    select p.proname into v_other
      from pg_depend d join pg_proc p on d.classid = 'pg_proc'::regclass and p.oid = d.objid
     where d.refclassid = 'pg_class'::regclass and d.refobjid = v_rel
     limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('the function %s refers to %s in a SQL-standard body', v_other, v_rel),
        'Write the function with a quoted body instead of BEGIN ATOMIC, or use replay_projection.', v_table);
    end if;
    select p.pubname into v_other
      from pg_publication_rel pr join pg_publication p on p.oid = pr.prpubid
     where pr.prrelid = v_rel limit 1;
    if found then
      perform raise_rebuild_refused(p_name, format('%s is in the publication %s; the rebuilt table would drop out of it', v_rel, v_other),
        'Use replay_projection, or drop the table from the publication and add it back after the rebuild.', v_table);
    end if;
  end loop;
end;
$$;
