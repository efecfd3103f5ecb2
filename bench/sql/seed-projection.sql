-- The seed's projection: plpgsql projection functions (seed functions.sql) called by one row-level
-- AFTER INSERT trigger per event type (seed trigger.sql), plus its update/delete guard
-- (seed immutable.sql). Unchanged: trigger.sql already names the right functions (only the seed
-- README's example called a non-existent fn_trigger_user_insert).

-- functions.sql
drop function if exists fn_project_user_insert(uuid uuid, body jsonb);
create or replace function fn_project_user_create(uuid uuid, body jsonb) returns integer as $$
declare result int;
begin
insert into users(uuid, name, inserted_at, updated_at)
values(uuid, body->>'name', NOW(), NOW())
returning id into result;
return result;
end;
$$ language plpgsql security definer;

drop function if exists fn_project_user_update(uuid uuid, body jsonb);
create or replace function fn_project_user_update(uuid uuid, body jsonb) returns void as $$
begin
update users SET name = body->>'name', updated_at = NOW()
where users.uuid = fn_project_user_update.uuid;
end;
$$ language plpgsql security definer;

-- trigger.sql
create or replace function fn_trigger_user_create() returns trigger
security definer
language plpgsql
as $$
begin
perform fn_project_user_create(new.uuid, new.body);
return new;
end;
$$;

create or replace function fn_trigger_user_update() returns trigger
security definer
language plpgsql
as $$
begin
perform fn_project_user_update(new.uuid, new.body);
return new;
end;
$$;

drop trigger if exists event_insert_user_create ON events;
create trigger event_insert_user_create after insert on events
for each row
when (new.type = 'user_create')
execute procedure fn_trigger_user_create();

drop trigger if exists event_insert_user_update ON events;
create trigger event_insert_user_update after insert on events
for each row
when (new.type = 'user_update')
execute procedure fn_trigger_user_update();

-- immutable.sql
create or replace function fn_trigger_reject_update_or_delete() returns trigger as $$
begin
RETURN NULL;
end;
$$ language plpgsql security definer;

drop trigger if exists event_reject_update_or_delete ON events;
create trigger event_reject_update_or_delete before update or delete on events
for each row
execute procedure fn_trigger_reject_update_or_delete();
