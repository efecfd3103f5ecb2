-- Readers and writers keep what their kind of access gives, when functions are defined anew or a
-- new version of the store gives a kind of access more (as imports did for writers): every role
-- recorded in roles that still exists is granted its access again. Runs last, after every function
-- it grants is defined.
do $$
declare
  v_role record;
begin
  for v_role in select r.role_name, r.access from {{schema}}.roles r
                 where to_regrole(quote_ident(r.role_name)) is not null
                 order by r.role_name loop
    if v_role.access = 'writer' then
      perform {{schema}}.grant_writer(v_role.role_name);
    else
      perform {{schema}}.grant_reader(v_role.role_name);
    end if;
  end loop;
end;
$$;
