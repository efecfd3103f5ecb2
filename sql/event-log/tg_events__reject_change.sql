-- History is immutable. A statement-level trigger fails even when no row matches, so an UPDATE
-- or DELETE never "succeeds" with 0 rows; TRUNCATE is covered too.
create or replace function {{schema}}.tg_events__reject_change() returns trigger
language plpgsql
security definer
set search_path = {{schema}}, pg_temp
as $$
begin
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
