-- The layout of the events table: one heap table (the default), or a table partitioned by a hash of
-- the stream (`partition_events(n)`), and/or split into live and archived events
-- (`partition_events(n, p_archive => true)`: events LIST-partitioned on a column `archived`, the live
-- part hash-partitioned when n > 0, the events of archived streams in `events_archived`, out of the
-- live part's indexes), chosen at install (`openEventStore({ partitions })`,
-- `pgevents migrate --partitions`) or moved to later, with the log locked meanwhile (see
-- docs/scale-out.md, Partitioned events). Every guarantee of the log holds in every layout; what a
-- partitioned one needs beside the table:
-- * event_keys: a unique constraint of a partitioned table must contain the partition key, so the
--   store-wide uniqueness of positions (id) and event ids lives in a table of their own, filled by
--   the statement trigger events_keys. Its constraint keeps the name events_event_id_unique, so a
--   duplicate event id is reported the same way in both layouts.
-- * every partition refuses statements aimed at it directly (statement triggers on a partitioned
--   table fire only for statements aimed at it, not at its partitions): appends go through events,
--   and an UPDATE, DELETE or TRUNCATE of a partition fails like one of events.
-- * an event trigger refuses an ALTER TABLE ... DETACH PARTITION or a DROP TABLE that leaves the
--   log with a partition missing, unless partition_events itself does it. Event triggers need a
--   superuser: a store installed by another role has no such guard, and only its owner can
--   detach or drop a partition (docs/scale-out.md says so).

-- The layout: how many hash partitions by stream the (live) log has, 0 for none.
create or replace function {{schema}}.event_partitions() returns integer
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select count(*)::integer
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
   where i.inhparent in ('{{schema}}.events'::regclass, coalesce(to_regclass('{{schema}}.events_live'), 0))
     and pg_get_expr(c.relpartbound, c.oid) like 'FOR VALUES WITH %';
$$;

-- The layout: whether the events of archived streams are kept in a partition of their own.
create or replace function {{schema}}.events_archive_partitioned() returns boolean
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select exists (select 1 from pg_inherits i
                  where i.inhparent = '{{schema}}.events'::regclass
                    and i.inhrelid = coalesce(to_regclass('{{schema}}.events_archived'), 0));
$$;

-- Every partitioned table of the log (events, and events_live when it is split by hash too).
create or replace function {{schema}}.event_partition_tree() returns setof regclass
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select r.relid from pg_partition_tree('{{schema}}.events'::regclass) r where r.relid <> '{{schema}}.events'::regclass;
$$;

create or replace function {{schema}}.tg_events__keep_keys() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
begin
  insert into event_keys (id, event_id) select n.id, n.event_id from new_events n;
  return null;
end;
$$;

create or replace function {{schema}}.tg_events__refuse_partition_write() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    raise exception 'Events are appended through %.events, not into its partition %', tg_table_schema, tg_table_name
      using errcode = 'PE032',
            detail = json_build_object('operation', tg_op, 'partition', tg_table_name)::text,
            hint = format('Insert into %s.events (or call append_events): its triggers give versions, check the rows and run the projections.', tg_table_schema);
  end if;
  raise exception 'Events are immutable: % on %.% (a partition of %.events) is not allowed', tg_op, tg_table_schema, tg_table_name, tg_table_schema
    using errcode = 'PE002',
          detail = json_build_object('operation', tg_op, 'partition', tg_table_name)::text,
          hint = 'Append a new event that corrects the state instead, then replay the projections that need it.';
end;
$$;

-- The event trigger: after an ALTER TABLE or DROP TABLE anywhere in the database, the store's
-- partitioned log must still have every partition of its hash modulus.
create or replace function {{schema}}.tg_events__guard_partitions() returns event_trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_events regclass := to_regclass('{{schema}}.events');
  v_missing record;
begin
  if v_events is null or current_setting('pgevents.partitioning_{{schema}}', true) = 'on' then
    return;
  end if;
  -- Each partitioned table of the log has all its hash partitions (as many as their modulus), and
  -- the live/archived split both of its parts.
  select t.relid, t.children, t.expected into v_missing
    from (select p.relid,
                 (select count(*) from pg_inherits i where i.inhparent = p.relid) as children,
                 case pt.partstrat
                   when 'l' then 2
                   else (select max(substring(pg_get_expr(c.relpartbound, c.oid) from 'modulus (\d+)')::integer)
                           from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = p.relid) end as expected
            from pg_partition_tree(v_events) p join pg_partitioned_table pt on pt.partrelid = p.relid) t
   where t.children < t.expected
   limit 1;
  if found then
    raise exception 'Events are immutable: % left %.events with % of the % partitions of %', tg_tag, '{{schema}}', v_missing.children, v_missing.expected, v_missing.relid
      using errcode = 'PE002',
            detail = json_build_object('operation', tg_tag, 'partitions', v_missing.children, 'expected', v_missing.expected)::text,
            hint = 'Partitions of the log are never detached nor dropped; change the layout with partition_events (pgevents partition).';
  end if;
end;
$$;

-- The triggers a partitioned log needs beside the events table's own: applied with every
-- definition and by partition_events. Does nothing for one heap table.
create or replace function {{schema}}.guard_event_partitions() returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_partition regclass;
  v_superuser boolean := (select r.rolsuper from pg_roles r where r.rolname = current_user);
  v_guard text := format('pgevents_%s_partitions', '{{schema}}');
begin
  if (select c.relkind from pg_class c where c.oid = '{{schema}}.events'::regclass) <> 'p' then
    if exists (select 1 from pg_event_trigger t where t.evtname = v_guard) then
      execute format('drop event trigger %I', v_guard);
    end if;
    return;
  end if;
  create or replace trigger events_keys
  after insert on {{schema}}.events
  referencing new table as new_events
  for each statement
  execute function {{schema}}.tg_events__keep_keys();
  for v_partition in select t from event_partition_tree() t loop
    execute format('create or replace trigger events_partition_refuse_write before insert or update or delete on %s '
                   'for each statement execute function {{schema}}.tg_events__refuse_partition_write()', v_partition);
    execute format('create or replace trigger events_partition_refuse_truncate before truncate on %s '
                   'for each statement execute function {{schema}}.tg_events__refuse_partition_write()', v_partition);
  end loop;
  if v_superuser and not exists (select 1 from pg_event_trigger t where t.evtname = v_guard) then
    execute format('create event trigger %I on ddl_command_end when tag in (''ALTER TABLE'', ''DROP TABLE'') '
                   'execute function {{schema}}.tg_events__guard_partitions()', v_guard);
  end if;
end;
$$;

-- Moves the log to p_partitions partitions by a hash of the stream (0: one heap table), its events
-- and positions unchanged, in the calling transaction; the store's owner's only. The log is locked
-- (ACCESS EXCLUSIVE: appends and reads wait) until the transaction ends: the time to copy every
-- event and build the indexes, measured by `npm run bench`. The objects whose definition names the
-- events table's row type (the store's read functions and views, projection handlers taking an
-- event row, materialized views over events) are dropped and created again from their own
-- definitions, with their owners, privileges and comments; the privileges on events too.
-- p_archive: the events of archived streams in a partition of their own (events_archived), out of
-- the live part's indexes; archive_stream and unarchive_stream then move a stream's events between
-- the two parts. Returns {partitions, previous, archive, previous_archive, events, dependents}.
create or replace function {{schema}}.partition_events(p_partitions integer, p_archive boolean default false) returns jsonb
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
declare
  v_events regclass := '{{schema}}.events'::regclass;
  v_previous integer;
  v_previous_archive boolean;
  v_live text;
  v_count bigint;
  v_last bigint;
  v_called boolean;
  v_object record;
  v_acl record;
  v_statement text;
  v_dependents integer;
  v_sequence text;
  v_remainder integer;
begin
  if p_partitions is null or p_partitions < 0 or p_partitions = 1 or p_partitions > 1024 then
    raise exception 'Invalid number of partitions: % (0 for one table, else 2 to 1024)', p_partitions
      using errcode = 'PE025', detail = json_build_object('field', 'partitions')::text,
            hint = 'Give 0 (one table) or from 2 to 1024 partitions; a power of two lets a later move split each partition evenly.';
  end if;
  if not pg_has_role(current_user, (select c.relowner from pg_class c where c.oid = v_events), 'usage') then
    raise exception 'Only the owner of %.events can change its partitions', '{{schema}}'
      using errcode = '42501', hint = 'Run it as the role that installed the store.';
  end if;
  lock table {{schema}}.events in access exclusive mode;
  v_previous := event_partitions();
  v_previous_archive := events_archive_partitioned();
  if p_archive is null then
    p_archive := v_previous_archive;
  end if;
  if v_previous = p_partitions and v_previous_archive = p_archive then
    return jsonb_build_object('partitions', p_partitions, 'previous', v_previous, 'archive', p_archive,
                              'previous_archive', v_previous_archive, 'events', null, 'dependents', 0);
  end if;
  perform set_config('pgevents.partitioning_{{schema}}', 'on', true);

  -- What must be created again: every function and view whose definition names the row type of
  -- events (or of such a view), found through pg_depend, deepest last.
  drop table if exists pgevents_dependents, pgevents_old_events, pgevents_old_column_acls;
  create temp table pgevents_dependents (
    depth integer, kind text, identity text, owner name, acl aclitem[], comment text,
    definition text, indexes text[], options text[]
  ) on commit drop;
  insert into pgevents_dependents
  with recursive referenced(classid, objid, depth) as (
    select 'pg_class'::regclass::oid, v_events::oid, 0
    union all select 'pg_type'::regclass::oid, t.oid, 0 from pg_type t where t.typrelid = v_events
    union all select 'pg_type'::regclass::oid, t.oid, 0 from pg_type t join pg_type r on r.oid = t.typelem where r.typrelid = v_events and t.typlen = -1
  ), walk(kind, oid, depth) as (
    select 'self'::text, r.objid, 0 from referenced r
    union
    select d.kind, d.oid, w.depth + 1
      from walk w
      join pg_depend p on p.refobjid = w.oid and p.deptype = 'n'
      cross join lateral (
        select 'function'::text as kind, p.objid as oid where p.classid = 'pg_proc'::regclass
        union all
        select case c.relkind when 'm' then 'materialized view' else 'view' end, c.oid
          from pg_rewrite rw join pg_class c on c.oid = rw.ev_class
         where p.classid = 'pg_rewrite'::regclass and rw.oid = p.objid and c.oid <> v_events and c.oid <> w.oid
        union all
        -- a view's row type and its array: functions returning them depend on those
        select 'type', t.oid from pg_type t join pg_class c on c.oid = t.typrelid
         where p.classid = 'pg_rewrite'::regclass and c.relkind in ('v', 'm')
           and exists (select 1 from pg_rewrite rw where rw.oid = p.objid and rw.ev_class = c.oid)
        union all
        select 'type', a.oid from pg_type a join pg_type t on t.oid = a.typelem join pg_class c on c.oid = t.typrelid
         where p.classid = 'pg_rewrite'::regclass and c.relkind in ('v', 'm') and a.typlen = -1
           and exists (select 1 from pg_rewrite rw where rw.oid = p.objid and rw.ev_class = c.oid)
      ) d
     where w.depth < 20
  ), deepest as (
    select w.kind, w.oid, max(w.depth) as depth from walk w where w.kind in ('function', 'view', 'materialized view') group by w.kind, w.oid
  )
  select d.depth, d.kind,
         case when d.kind = 'function' then d.oid::regprocedure::text else d.oid::regclass::text end,
         case when d.kind = 'function' then (select pg_get_userbyid(f.proowner) from pg_proc f where f.oid = d.oid)
              else (select pg_get_userbyid(c.relowner) from pg_class c where c.oid = d.oid) end,
         case when d.kind = 'function' then (select f.proacl from pg_proc f where f.oid = d.oid)
              else (select c.relacl from pg_class c where c.oid = d.oid) end,
         obj_description(d.oid, case when d.kind = 'function' then 'pg_proc' else 'pg_class' end),
         case when d.kind = 'function' then pg_get_functiondef(d.oid) else pg_get_viewdef(d.oid) end,
         case when d.kind = 'materialized view' then
           array(select pg_get_indexdef(x.indexrelid) from pg_index x where x.indrelid = d.oid order by x.indexrelid) end,
         case when d.kind <> 'function' then (select c.reloptions from pg_class c where c.oid = d.oid) end
    from deepest d;
  get diagnostics v_dependents = row_count;
  if exists (select 1 from pg_depend p
              join pg_type t on t.oid = p.refobjid and (t.typrelid = v_events or t.typelem in (select r.oid from pg_type r where r.typrelid = v_events))
             where p.classid = 'pg_class'::regclass and p.objsubid > 0) then
    raise exception 'A table column has the row type of %.events: its events cannot be moved', '{{schema}}'
      using errcode = 'PE025', hint = 'Change that column''s type first.';
  end if;
  for v_object in select * from pgevents_dependents order by depth desc, identity loop
    execute format('drop %s %s', v_object.kind, v_object.identity);
  end loop;

  -- The new table, its events, and the old one's triggers, indexes and privileges.
  create temp table pgevents_old_events on commit drop as
    select (select array_agg(pg_get_triggerdef(g.oid) order by g.tgname) from pg_trigger g
             where g.tgrelid = v_events and not g.tgisinternal
               and g.tgname not in ('events_keys')) as triggers,
           (select array_agg(pg_get_indexdef(x.indexrelid) order by x.indexrelid) from pg_index x
             where x.indrelid = v_events
               and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid)
               and pg_get_indexdef(x.indexrelid) !~ 'events_event_id_idx') as indexes,
           (select c.relacl from pg_class c where c.oid = v_events) as acl,
           -- Row-level security (tenant mode, sql/tenants/): its switches and policies go along.
           (select c.relrowsecurity from pg_class c where c.oid = v_events) as row_security,
           (select c.relforcerowsecurity from pg_class c where c.oid = v_events) as force_row_security,
           (select array_agg(format('create policy %I on {{schema}}.events as %s for %s to %s%s%s', p.policyname, p.permissive, p.cmd,
                                    (select string_agg(case when r = 'public' then 'public' else quote_ident(r) end, ', ') from unnest(p.roles) r),
                                    case when p.qual is not null then format(' using (%s)', p.qual) else '' end,
                                    case when p.with_check is not null then format(' with check (%s)', p.with_check) else '' end))
              from pg_policies p where p.schemaname = '{{schema}}' and p.tablename = 'events') as policies,
           (select c.relacl from pg_class c where c.oid = '{{schema}}.events_id_seq'::regclass) as sequence_acl;
  create temp table pgevents_old_column_acls on commit drop as
    select a.attname, (aclexplode(a.attacl)).* from pg_attribute a
     where a.attrelid = v_events and a.attacl is not null and not a.attisdropped;
  select s.last_value, s.is_called into v_last, v_called from {{schema}}.events_id_seq s;
  select count(*) into v_count from {{schema}}.events;

  execute format('create table {{schema}}.events_moving (like {{schema}}.events including defaults including constraints '
                 'including identity including generated including storage including compression including comments '
                 'including statistics)%s',
                 case when p_archive then ' partition by list (archived)' when p_partitions > 0 then ' partition by hash (uuid)' else '' end);
  -- The new partitions are named moving_<name> until the old table (and its partitions) is gone.
  v_live := case when p_archive then 'moving_events_live' else 'events_moving' end;
  if p_archive then
    execute format('create table {{schema}}.moving_events_live partition of {{schema}}.events_moving for values in (false)%s',
                   case when p_partitions > 0 then ' partition by hash (uuid)' else '' end);
    create table {{schema}}.moving_events_archived partition of {{schema}}.events_moving for values in (true);
  end if;
  for v_remainder in 0 .. p_partitions - 1 loop
    execute format('create table {{schema}}.%I partition of {{schema}}.%I for values with (modulus %s, remainder %s)',
                   format('moving_events_p%s_of_%s', v_remainder, p_partitions), v_live, p_partitions, v_remainder);
  end loop;
  insert into {{schema}}.events_moving overriding system value select * from {{schema}}.events order by id;
  drop table {{schema}}.events;
  drop table if exists {{schema}}.event_keys;
  alter table {{schema}}.events_moving rename to events;
  for v_statement in
    select unnest(array(select format('alter table {{schema}}.%I rename to %I', c.relname, substring(c.relname from 8))
                          from pg_partition_tree('{{schema}}.events'::regclass) t join pg_class c on c.oid = t.relid
                         where c.relname like 'moving\_%'))
  loop
    execute v_statement;
  end loop;
  v_sequence := pg_get_serial_sequence('{{schema}}.events', 'id');
  execute format('alter sequence %s rename to events_id_seq', v_sequence);
  perform setval('{{schema}}.events_id_seq', v_last, v_called);

  if p_partitions > 0 or p_archive then
    -- A unique constraint of a partitioned table holds every partition key of the tree.
    execute format('alter table {{schema}}.events add constraint events_pkey primary key (id%s%s)',
                   case when p_partitions > 0 then ', uuid' else '' end, case when p_archive then ', archived' else '' end);
    create table {{schema}}.event_keys (
      id bigint constraint event_keys_pkey primary key,
      event_id uuid not null constraint events_event_id_unique unique
    );
    comment on table {{schema}}.event_keys is 'The position and the event id of every event of the partitioned log, each unique store-wide (a unique constraint of a partitioned table must hold its partition key).';
    insert into {{schema}}.event_keys (id, event_id) select e.id, e.event_id from {{schema}}.events e;
    -- Lookups by event id (idempotent appends, imports) probe every partition's index.
    create index events_event_id_idx on {{schema}}.events (event_id);
  else
    alter table {{schema}}.events add constraint events_pkey primary key (id);
    alter table {{schema}}.events add constraint events_event_id_unique unique (event_id);
  end if;
  execute format('alter table {{schema}}.events add constraint events_stream_version_unique unique (uuid, version%s)',
                 case when p_archive then ', archived' else '' end);
  for v_statement in select unnest(o.indexes) from pgevents_old_events o loop
    execute v_statement;
  end loop;
  for v_statement in select unnest(o.triggers) from pgevents_old_events o loop
    execute v_statement;
  end loop;
  for v_acl in select (aclexplode(o.acl)).* from pgevents_old_events o where o.acl is not null loop
    execute format('grant %s on {{schema}}.events to %s%s', v_acl.privilege_type,
                   case when v_acl.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(v_acl.grantee)) end,
                   case when v_acl.is_grantable then ' with grant option' else '' end);
  end loop;
  for v_acl in select (aclexplode(o.sequence_acl)).* from pgevents_old_events o where o.sequence_acl is not null loop
    execute format('grant %s on sequence {{schema}}.events_id_seq to %s%s', v_acl.privilege_type,
                   case when v_acl.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(v_acl.grantee)) end,
                   case when v_acl.is_grantable then ' with grant option' else '' end);
  end loop;
  for v_acl in select * from pgevents_old_column_acls loop
    execute format('grant %s (%I) on {{schema}}.events to %s%s', v_acl.privilege_type, v_acl.attname,
                   case when v_acl.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(v_acl.grantee)) end,
                   case when v_acl.is_grantable then ' with grant option' else '' end);
  end loop;
  for v_statement in select unnest(o.policies) from pgevents_old_events o loop
    execute v_statement;
  end loop;
  if (select o.row_security from pgevents_old_events o) then
    alter table {{schema}}.events enable row level security;
  end if;
  if (select o.force_row_security from pgevents_old_events o) then
    alter table {{schema}}.events force row level security;
  end if;
  perform guard_event_partitions();

  -- The dependents again, shallowest first, as they were.
  for v_object in select * from pgevents_dependents order by depth, identity loop
    if v_object.kind = 'function' then
      execute v_object.definition;
      execute format('alter function %s owner to %I', v_object.identity, v_object.owner);
      execute format('revoke all on function %s from public', v_object.identity);
    else
      execute format('create %s %s%s as %s', v_object.kind, v_object.identity,
                     case when v_object.options is not null then format(' with (%s)', array_to_string(v_object.options, ', ')) else '' end,
                     v_object.definition);
      execute format('alter %s %s owner to %I', case when v_object.kind = 'view' then 'view' else 'materialized view' end, v_object.identity, v_object.owner);
      execute format('revoke all on %s from public', v_object.identity);
      for v_statement in select unnest(v_object.indexes) loop
        execute v_statement;
      end loop;
    end if;
    if v_object.acl is null and v_object.kind = 'function' then
      execute format('grant execute on function %s to public', v_object.identity);
    end if;
    for v_acl in select (aclexplode(v_object.acl)).* loop
      execute format('grant %s on %s%s to %s%s', v_acl.privilege_type,
                     case when v_object.kind = 'function' then 'function ' else '' end, v_object.identity,
                     case when v_acl.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(v_acl.grantee)) end,
                     case when v_acl.is_grantable then ' with grant option' else '' end);
    end loop;
    if v_object.comment is not null then
      execute format('comment on %s %s is %L', case when v_object.kind = 'function' then 'function' else v_object.kind end,
                     v_object.identity, v_object.comment);
    end if;
  end loop;
  analyze {{schema}}.events;
  perform set_config('pgevents.partitioning_{{schema}}', '', true);
  return jsonb_build_object('partitions', p_partitions, 'previous', v_previous, 'archive', p_archive,
                            'previous_archive', v_previous_archive, 'events', v_count, 'dependents', v_dependents);
end;
$$;

revoke all on function {{schema}}.partition_events(integer, boolean) from public;

select {{schema}}.guard_event_partitions();
