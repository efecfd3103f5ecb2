-- Event ids made by the store are time-ordered (UUID version 7: a millisecond timestamp, then
-- random bits), so that new ids land at the end of the event_id index rather than on a random
-- page of it (random ids made that index the most expensive part of a bulk load). One expression,
-- so that PostgreSQL inlines it where it is used; for the same reason it pins no search_path, and
-- names every function, operator and type with its schema instead (overlay and substring are
-- grammar, always pg_catalog's): inlined into a writer's INSERT, it is parsed with the writer's
-- search_path. (PostgreSQL 18's uuidv7() is not in 14–17.)
create or replace function {{schema}}.uuid_v7() returns uuid
language sql
volatile
parallel safe
as $$
  select pg_catalog.encode(
           overlay(
             pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
             placing substring(
                       pg_catalog.int8send(pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())
                                                            operator(pg_catalog.*) 1000)::pg_catalog.int8)
                       from 3)
                     operator(pg_catalog.||)
                     pg_catalog.set_byte('\x00'::pg_catalog.bytea, 0,
                                         (112 operator(pg_catalog.+)
                                          pg_catalog.floor(pg_catalog.random() operator(pg_catalog.*) 16))::pg_catalog.int4)
             from 1 for 7),
           'hex')::pg_catalog.uuid
$$;

-- Column defaults run with the inserting role's rights: grant_writer grants it. Set only when it is
-- not already the default (ALTER TABLE locks the events table against readers).
do $$
begin
  if pg_get_expr((select d.adbin from pg_attrdef d join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum
                   where d.adrelid = '{{schema}}.events'::regclass and a.attname = 'event_id'),
                 '{{schema}}.events'::regclass) is distinct from '{{schema}}.uuid_v7()' then
    alter table {{schema}}.events alter column event_id set default {{schema}}.uuid_v7();
  end if;
end;
$$;
