-- A personal data reader: reads (grant_read_access) and may read the keys of personal data
-- (subject_keys), so that the store's reads hand it the declared personal fields decrypted (see
-- docs/personal-data.md). Every other role reads them as the encrypted markers they are stored as.
-- Recorded in roles.
create or replace function {{schema}}.grant_personal_data_reader(p_role name) returns void
language plpgsql
set search_path = {{schema}}, pg_temp
as $$
begin
  perform grant_read_access(p_role);
  execute format('grant select on {{schema}}.subject_keys to %I', p_role);
  -- Made by the first declaration (generate_personal_data_code, which grants it to the readers then).
  if to_regprocedure('{{schema}}.unseal_value(bytea, text)') is not null then
    execute format('grant execute on function {{schema}}.unseal_value(bytea, text) to %I', p_role);
  end if;
  insert into roles (role_name, access) values (p_role, 'personal_data_reader')
  on conflict (role_name, access) do nothing;
end;
$$;
