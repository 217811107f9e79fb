-- 0031: whether a call has ended (the voice webhook's replay check, memory.calls.call_over) in
-- one statement: the function sets the tenant for its own transaction, then reads under the
-- same row-level security as tenant_tx (it runs as its caller, not as a definer). Through
-- tenant_tx the check took four round trips (BEGIN, the tenant, the query, COMMIT) on the path
-- of every incoming call.
CREATE FUNCTION call_over(p_tenant uuid, p_call_sid text, p_statuses text[]) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    RETURN EXISTS (SELECT 1 FROM calls WHERE tenant_id = p_tenant AND call_sid = p_call_sid
                   AND (ended_at IS NOT NULL OR twilio_status = ANY(p_statuses)))
        OR EXISTS (SELECT 1 FROM call_events WHERE tenant_id = p_tenant AND call_sid = p_call_sid
                   AND kind = 'status' AND payload->>'CallStatus' = ANY(p_statuses));
END
$$;
REVOKE ALL ON FUNCTION call_over(uuid, text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION call_over(uuid, text, text[]) TO neurosphere_app;
