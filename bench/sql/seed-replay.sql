-- The seed's replay (seed data.sql and README "Replay Event Stream"): empty the read model, then
-- loop over the events and call the projection function of each one's type.
-- Fixed: the README's loop read "select uuid body" (a missing comma: body became an alias of uuid),
-- and both orders were "by inserted_at" only, which is statement_timestamp(): every event of one
-- multi-row INSERT or COPY has the same value, so an update could be replayed before its create.
-- Ordered by id (the insertion order) instead; the type filter keeps the CASE from raising
-- case_not_found on a type without a handler.
truncate table users;
do language plpgsql $$
declare
e record;
begin
for e in select type, uuid, body from events where type in ('user_create', 'user_update') order by id asc loop
case e.type
when 'user_create' then
perform fn_project_user_create(e.uuid, e.body);
when 'user_update' then
perform fn_project_user_update(e.uuid, e.body);
end case;
end loop;
end;
$$;
