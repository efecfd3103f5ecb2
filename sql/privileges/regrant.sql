-- Every role keeps what its kinds of access give, when functions are defined anew or a new version
-- of the store gives a kind of access more (as imports did for writers, subscriptions for readers):
-- every role recorded in roles that still exists is granted each of its kinds again. Runs last,
-- after every function it grants is defined.
do $$
declare
  v_role record;
begin
  for v_role in select r.role_name, r.access from {{schema}}.roles r
                 where to_regrole(quote_ident(r.role_name)) is not null
                 order by r.role_name, r.access loop
    case v_role.access
      when 'writer' then perform {{schema}}.grant_writer(v_role.role_name);
      when 'subscriber' then perform {{schema}}.grant_subscriber(v_role.role_name);
      when 'operator' then perform {{schema}}.grant_operator(v_role.role_name);
      when 'personal_data_reader' then perform {{schema}}.grant_personal_data_reader(v_role.role_name);
      when 'tenant' then perform {{schema}}.grant_tenant_access(v_role.role_name);
      else perform {{schema}}.grant_reader(v_role.role_name);
    end case;
  end loop;
end;
$$;
