-- 0020: how much post-call work and how many outbox deliveries wait, and how many failed, for
-- /metrics. Counted across tenants by a function owned by neurosphere_jobs (which may read
-- both tables, 0003 and 0007) that returns counts only, never a row.
CREATE FUNCTION queue_depths() RETURNS TABLE (queue text, state text, n bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT 'post_call', status, count(*) FROM post_call_jobs
    WHERE status IN ('pending', 'running', 'failed') GROUP BY status
    UNION ALL
    SELECT 'outbox', status, count(*) FROM outbox
    WHERE status IN ('pending', 'running', 'dead') GROUP BY status
$$;
GRANT CREATE ON SCHEMA public TO neurosphere_jobs;
ALTER FUNCTION queue_depths() OWNER TO neurosphere_jobs;
REVOKE CREATE ON SCHEMA public FROM neurosphere_jobs;
REVOKE ALL ON FUNCTION queue_depths() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION queue_depths() TO neurosphere_app;
