-- Set-based rebuild of the users read model in one statement: each user's latest event gives its
-- name (every event of this workload carries the full name). Not an API of any system: it shows
-- what a read model costs when it can be derived by one query instead of event by event.
-- {{events}} is the events table of the system it runs on.
truncate table users;
insert into users (uuid, name, inserted_at, updated_at)
select distinct on (uuid) uuid, body->>'name', now(), now()
  from {{events}}
 where type in ('user_create', 'user_update')
 order by uuid, id desc;
