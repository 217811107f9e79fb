-- 0005: data retention. The purge (memory/retention.py) runs every tenant's deletions in that
-- tenant's own transaction; the one thing it needs before a tenant is known is the list of
-- tenants, suspended ones included (their retention period runs on). active_tenants() (0001)
-- skips suspended tenants and platform_tenants() (0004) returns names and numbers, so this is a
-- function of its own that reveals tenant ids and nothing else. Like them it belongs to
-- neurosphere_lookup, which may read only tenants (tenant_id, status) through its SELECT policy.

CREATE FUNCTION retention_tenants() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT t.tenant_id FROM public.tenants t ORDER BY t.tenant_id
$$;
GRANT CREATE ON SCHEMA public TO neurosphere_lookup;
ALTER FUNCTION retention_tenants() OWNER TO neurosphere_lookup;
REVOKE CREATE ON SCHEMA public FROM neurosphere_lookup;
REVOKE ALL ON FUNCTION retention_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION retention_tenants() TO neurosphere_app;
