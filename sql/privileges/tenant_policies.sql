-- Tenant mode (sql/tenants/tenant_mode.sql), after everything was closed to PUBLIC: every role may
-- call the functions the tenant policies call (they run as the querying role), and a store in
-- tenant mode gets its policies, triggers and security-invoker views again (re-creating the views
-- above dropped their security_invoker).
grant execute on function {{schema}}.tenants_of(name), {{schema}}.acting_role(), {{schema}}.tenant_mode() to public;

do $$
begin
  if {{schema}}.tenant_mode() then
    perform {{schema}}.apply_tenant_mode();
  end if;
end;
$$;
