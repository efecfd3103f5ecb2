-- The seed's users example as a pgevents trigger projection.
-- Run it with `pgevents exec examples/users.sql`: the store's schema is on the search_path, so
-- `events` and `define_projection` resolve to it, and `users` is created in the first schema (public).

create table if not exists users (
  uuid uuid primary key,
  name text not null,
  inserted_at timestamptz not null,
  updated_at timestamptz not null
);

-- Handlers take the whole event row so that they can use its time: a replay then rebuilds exactly
-- the rows the live triggers wrote. They pin search_path, which define_projection requires.
create or replace function project_user_create(e events) returns void
language plpgsql
set search_path = public, pg_temp
as $$
begin
  insert into users (uuid, name, inserted_at, updated_at)
  values (e.uuid, e.body ->> 'name', e.inserted_at, e.inserted_at);
end;
$$;

create or replace function project_user_update(e events) returns void
language plpgsql
set search_path = public, pg_temp
as $$
begin
  update users
     set name = e.body ->> 'name', updated_at = e.inserted_at
   where uuid = e.uuid;
end;
$$;

select define_projection(
  'users',
  '{"user_create": "project_user_create", "user_update": "project_user_update"}',
  '{users}',
  'uuid'
);
