-- The limits of an event's JSON, whichever way it comes in (append_events, import_events, a plain
-- INSERT or COPY, an INSERT … SELECT), as check constraints of the events table:
--
-- * events_body_size, events_metadata_size: at most 1 MiB of body and 64 KiB of metadata as
--   PostgreSQL stores them: jsonb, uncompressed (what pg_column_size says of a value as it is
--   built). Migration 0001 measured pg_column_size alone, which for a value copied from a table
--   that holds it compressed (an import's staging table, an INSERT … SELECT) is its compressed
--   size: many MiB of repetitive text passed. For such a value its uncompressed size is measured
--   (`|| '{}'` returns the object unchanged, decompressed), which costs only compressed values.
-- * events_body_depth, events_metadata_depth: at most 1,000 levels of nesting (no item at level
--   1,001; the body itself is level 0). Walking the JSON costs only values that can be that deep:
--   every level takes at least 8 bytes (a container's header and the entry of its child), so a
--   value of fewer than 8,000 bytes, uncompressed, cannot hold 1,001 levels and is not walked.
--
-- Only PostgreSQL's own functions, which every role may execute: a check runs with the rights of
-- the inserting role, and a writer is granted no function of the store's for it.
-- The TypeScript API measures the same (src/store/validate.ts), so that both refuse the same input.
--
-- A constraint is added when it is missing (or, for the sizes, still 0001's), NOT VALID: the events
-- already stored are not checked again, because validating them would scan the whole table under a
-- lock that stops every append, and because 0001's size check let some of them in. New rows are
-- always checked. (`alter table … validate constraint …` checks the old rows too, blocking no append.)
do $$
declare
  v record;
begin
  for v in
    select c.name, c.replaces, c.expression
      from (values
        ('events_body_size', 'CHECK ((pg_column_size(body) <= 1048576))',
         'pg_column_size(body) <= 1048576
          and (pg_column_compression(body) is null or pg_column_size(body || ''{}'') <= 1048576)'),
        ('events_metadata_size', 'CHECK ((pg_column_size(metadata) <= 65536))',
         'pg_column_size(metadata) <= 65536
          and (pg_column_compression(metadata) is null or pg_column_size(metadata || ''{}'') <= 65536)'),
        ('events_body_depth', null,
         '(pg_column_size(body) < 8000 and pg_column_compression(body) is null)
          or not jsonb_path_exists(body, ''strict $.**{1001}'')'),
        ('events_metadata_depth', null,
         '(pg_column_size(metadata) < 8000 and pg_column_compression(metadata) is null)
          or not jsonb_path_exists(metadata, ''strict $.**{1001}'')')
      ) c(name, replaces, expression)
  loop
    if coalesce((select pg_get_constraintdef(con.oid) from pg_constraint con
                  where con.conrelid = '{{schema}}.events'::regclass and con.conname = v.name),
                v.replaces) is not distinct from v.replaces then
      execute format('alter table {{schema}}.events drop constraint if exists %I, add constraint %I check (%s) not valid',
                     v.name, v.name, v.expression);
    end if;
  end loop;
end;
$$;
