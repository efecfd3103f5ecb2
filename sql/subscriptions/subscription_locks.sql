-- A runner holds the session advisory lock (1885824376, subscription_lock_key(name)) while it runs
-- the subscription: one runner per name at a time, released when its connection ends.
create or replace function {{schema}}.subscription_lock_key(p_name text) returns int
language sql
immutable
set search_path = {{schema}}, pg_temp
as $$
  select hashtext('{{schema}}.' || p_name);
$$;

create or replace function {{schema}}.subscription_is_locked(p_name text) returns boolean
language sql
stable
set search_path = {{schema}}, pg_temp
as $$
  select exists (
    select 1 from pg_locks l
     where l.locktype = 'advisory' and l.granted and l.objsubid = 2
       and l.database = (select d.oid from pg_database d where d.datname = current_database())
       and l.classid = 1885824376::oid
       and l.objid = subscription_lock_key(p_name)::oid);
$$;
