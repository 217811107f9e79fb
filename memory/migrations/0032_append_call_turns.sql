-- 0032: several calls' turn batches (one tick of a call actor process, memory.turn_batches) in one
-- statement, one round trip. For each tenant in turn the function sets the tenant for its own
-- transaction and writes only that tenant's rows, under the same row-level security as tenant_tx
-- (it runs as its caller, not as a definer). Each tenant's rows are written only if the tenant's
-- content policy (memory.content_policy's defaults when it has no agent row) is the one their
-- text was prepared under; the stored policy is returned either way. A call with no row for the
-- tenant (not the tenant's, or gone) is left out and named, so it fails alone.
-- Through tenant_tx one call's batch took three round trips (BEGIN with the tenant, the insert,
-- COMMIT), and a call actor process sent its calls' batches one by one.
CREATE FUNCTION append_call_turns(
    p_tenants uuid[], p_calls text[], p_seqs integer[], p_roles text[], p_texts text[],
    p_metas jsonb[], p_ats timestamptz[],
    p_policy_tenants uuid[], p_redact boolean[], p_keep boolean[]
) RETURNS TABLE (o_tenant uuid, o_redact boolean, o_keep boolean, o_missing text[])
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public
AS $$
DECLARE
    i integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_policy_tenants, 1), 0) LOOP
        o_tenant := p_policy_tenants[i];
        PERFORM set_config('app.tenant_id', o_tenant::text, true);
        SELECT coalesce(a.pii_redaction, true), coalesce(a.keep_transcripts, true)
          INTO o_redact, o_keep
          FROM (SELECT 1) one LEFT JOIN agent_configs a ON a.tenant_id = o_tenant;
        o_missing := '{}';
        IF o_redact = p_redact[i] AND o_keep = p_keep[i] THEN
            SELECT coalesce(array_agg(DISTINCT r.call_sid), '{}') INTO o_missing
              FROM unnest(p_tenants, p_calls) AS r(tenant_id, call_sid)
             WHERE r.tenant_id = o_tenant
               AND NOT EXISTS (SELECT 1 FROM calls c
                               WHERE c.tenant_id = o_tenant AND c.call_sid = r.call_sid);
            INSERT INTO call_turns (tenant_id, call_sid, seq, role, text, meta, at)
            SELECT o_tenant, r.call_sid, r.seq, r.role, r.text, r.meta, r.at
              FROM unnest(p_tenants, p_calls, p_seqs, p_roles, p_texts, p_metas, p_ats)
                   AS r(tenant_id, call_sid, seq, role, text, meta, at)
             WHERE r.tenant_id = o_tenant AND r.call_sid <> ALL (o_missing)
            ON CONFLICT (tenant_id, call_sid, seq) DO NOTHING;
        END IF;
        RETURN NEXT;
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END
$$;
REVOKE ALL ON FUNCTION append_call_turns(uuid[], text[], integer[], text[], text[], jsonb[],
    timestamptz[], uuid[], boolean[], boolean[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_call_turns(uuid[], text[], integer[], text[], text[], jsonb[],
    timestamptz[], uuid[], boolean[], boolean[]) TO neurosphere_app;
