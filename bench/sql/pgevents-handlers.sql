-- The users read model's handlers for pgevents: the seed's two projection functions with their
-- bodies unchanged, plus the pinned search_path that define_projection requires. users.sql creates
-- the table; the projection is defined with
--   select pgevents.define_projection('users',
--     '{"user_create": "fn_project_user_create", "user_update": "fn_project_user_update"}',
--     array['users'], 'uuid');
-- (or EventStore.defineProjection with the same arguments).

create function fn_project_user_create(uuid uuid, body jsonb) returns integer as $$
declare result int;
begin
insert into users(uuid, name, inserted_at, updated_at)
values(uuid, body->>'name', NOW(), NOW())
returning id into result;
return result;
end;
$$ language plpgsql security definer set search_path = public, pg_temp;

create function fn_project_user_update(uuid uuid, body jsonb) returns void as $$
begin
update users SET name = body->>'name', updated_at = NOW()
where users.uuid = fn_project_user_update.uuid;
end;
$$ language plpgsql security definer set search_path = public, pg_temp;

-- The same read model as a batch handler (what pgevents' statement-level triggers allow): one call
-- per statement (or replay batch) with all its user events in position order; one INSERT of the
-- new users and one UPDATE per user to its last name. Defined with
--   select pgevents.define_projection('users',
--     '{"user_create": "users_apply", "user_update": "users_apply"}', array['users'], 'uuid');
create function users_apply(events pgevents.events[]) returns void as $$
begin
insert into users(uuid, name, inserted_at, updated_at)
select e.uuid, e.body->>'name', NOW(), NOW()
  from unnest(events) e
 where e.type = 'user_create';
update users SET name = latest.name, updated_at = NOW()
  from (select distinct on (e.uuid) e.uuid, e.body->>'name' as name
          from unnest(events) e
         where e.type = 'user_update'
         order by e.uuid, e.id desc) latest
 where users.uuid = latest.uuid;
end;
$$ language plpgsql security definer set search_path = public, pg_temp;
