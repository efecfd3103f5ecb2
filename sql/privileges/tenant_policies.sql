-- Tenant mode (sql/tenants/tenant_mode.sql): a store in tenant mode gets its policies, triggers and
-- security-invoker views again (re-creating the views above dropped their security_invoker). The
-- roles granted access may call tenants_of, which the policies call as the querying role
-- (grant_read_access, grant_tenant_access).

do $$
begin
  if {{schema}}.tenant_mode() then
    perform {{schema}}.apply_tenant_mode();
  end if;
end;
$$;
