-- pgevents 0007: one current definition per object.
-- Until 0006 the functions lived in the numbered migrations, and later releases wrapped or
-- replaced earlier ones. Now they live in sql/<concept>/ and are applied after the migrations.
-- What a store of an earlier release still holds and the current definitions do not replace is
-- dropped here: the *_base functions that 0005 and 0006 wrapped (folded back into the functions of
-- their names), the write path's triggers before 0006, and the signatures that have changed since.
-- Every statement is conditional: a new store has none of these.

drop trigger if exists events_check_insert on {{schema}}.events;
drop trigger if exists events_notify on {{schema}}.events;
drop function if exists {{schema}}.tg_events__check_insert();
drop function if exists {{schema}}.tg_events__notify();
drop function if exists {{schema}}.projection_dispatch_code(text);

drop function if exists {{schema}}.define_projection_base(text, jsonb, text[], text, int);
drop function if exists {{schema}}.replay_start_base(text, uuid, text[], bigint);
drop function if exists {{schema}}.drop_projection_base(text, boolean);
drop function if exists {{schema}}.define_materialized_view_base(text, text, text[], text);
drop function if exists {{schema}}.refresh_materialized_view_base(text);
drop function if exists {{schema}}.rebuild_start_base(text, boolean);

-- define_projection took no rebuild statement before 0005.
drop function if exists {{schema}}.define_projection(text, jsonb, text[], text, int);

-- The ledger of the definitions: the combined checksum of the files, each time they were applied.
-- The last row is what the store runs; code whose checksum was applied before another one is older
-- than the store and is refused, as a store newer than the code is.
create table {{schema}}.definitions (
  id int generated always as identity primary key,
  checksum text not null,
  applied_at timestamptz not null default now()
);
comment on table {{schema}}.definitions is 'The combined checksum of the function, view and trigger definitions (sql/<concept>/*.sql), each time they were applied; the last row is current. The migration runner applies them again when it changes.';
