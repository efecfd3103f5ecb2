-- History is immutable. A statement-level trigger fails even when no row matches, so an UPDATE
-- or DELETE never "succeeds" with 0 rows; TRUNCATE is covered too. The one exception is the DELETE
-- of truncate_stream_before (sql/lifecycle/truncate_stream_before.sql): it is let through when the
-- transaction-local setting pgevents.truncate_<schema> names a truncate_before record of
-- stream_lifecycle written by this very transaction. Anyone can set the setting; only the store's
-- owner can write that record, so a forged setting is refused like any other DELETE. In a log with an
-- archive partition, the UPDATE that moves an archived stream's events is let through the same way.
create or replace function {{schema}}.tg_events__reject_change() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
declare
  v_truncation text := current_setting('pgevents.truncate_{{schema}}', true);
  v_moving text := current_setting('pgevents.archive_{{schema}}', true);
begin
  -- The move of an archived (or unarchived) stream's events between the live and the archived
  -- part of a log split so (partition_events(n, p_archive => true)): an UPDATE of the column
  -- archived only, let through like the truncation below, for an archive or unarchive record of
  -- stream_lifecycle written by this very transaction.
  if tg_op = 'UPDATE' and v_moving ~ '^[0-9]{1,18}$'
     and exists (select 1 from stream_lifecycle l
                  where l.id = v_moving::bigint and l.operation in ('archive', 'unarchive')
                    and l.transaction_id = pg_current_xact_id()) then
    return null;
  end if;
  if tg_op = 'DELETE' and v_truncation ~ '^[0-9]{1,18}$'
     and exists (select 1 from stream_lifecycle l
                  where l.id = v_truncation::bigint and l.operation = 'truncate_before'
                    and l.transaction_id = pg_current_xact_id()) then
    return null;
  end if;
  raise exception 'Events are immutable: % on %.events is not allowed', tg_op, tg_table_schema
    using errcode = 'PE002',
          detail = json_build_object('operation', tg_op)::text,
          hint = 'Append a new event that corrects the state instead, then replay the projections that need it.';
end;
$$;

create or replace trigger events_immutable
before update or delete on {{schema}}.events
for each statement
execute function {{schema}}.tg_events__reject_change();

create or replace trigger events_immutable_truncate
before truncate on {{schema}}.events
for each statement
execute function {{schema}}.tg_events__reject_change();
