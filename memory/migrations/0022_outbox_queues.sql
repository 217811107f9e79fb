-- 0022: the outbox is partitioned into queues, one per engine deployment.
--
-- Every delivery is written to the queue of the engine that wrote its event
-- (EngineConfig.outbox_queue_name: by default a keyed digest of the engine secret), and a drain
-- claims only its own queue. Two engines sharing this database with different secrets never
-- take each other's deliveries: a webhook secret or Notion token sealed by one cannot be opened
-- by the other, so a delivery it claimed could only be dead-lettered. Expired leases are
-- dead-lettered only by the engines of their queue, for the same reason.
-- Rows written before this migration have no queue; the first engine to claim one adopts it.

ALTER TABLE outbox ADD COLUMN queue text CHECK (length(queue) BETWEEN 1 AND 64);

DROP INDEX outbox_ready;
CREATE INDEX outbox_ready ON outbox (queue, run_after) WHERE status IN ('pending', 'running');

DROP FUNCTION claim_outbox(integer, integer, integer);

CREATE FUNCTION claim_outbox(
    p_queue text, p_limit integer, p_lease_s integer, p_max_attempts integer
)
    RETURNS TABLE (tenant_id uuid, delivery_id uuid, attempts integer, lease_id uuid)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    UPDATE public.outbox o
       SET status = 'dead', last_error = coalesce(o.last_error, 'lease expired'),
           lease_id = NULL, locked_until = NULL
     WHERE o.queue = p_queue
       AND o.status = 'running' AND o.locked_until < now() AND o.attempts >= p_max_attempts;

    WITH next AS (
        SELECT n.tenant_id, n.delivery_id FROM public.outbox n
         WHERE (n.queue = p_queue OR n.queue IS NULL)
           AND ((n.status = 'pending' AND n.run_after <= now())
                OR (n.status = 'running' AND n.locked_until < now()))
         ORDER BY n.run_after
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED
    )
    UPDATE public.outbox o
       SET status = 'running', attempts = o.attempts + 1, lease_id = gen_random_uuid(),
           locked_until = now() + make_interval(secs => p_lease_s), queue = p_queue
      FROM next
     WHERE o.tenant_id = next.tenant_id AND o.delivery_id = next.delivery_id
    RETURNING o.tenant_id, o.delivery_id, o.attempts, o.lease_id
$$;
GRANT CREATE ON SCHEMA public TO neurosphere_jobs;
ALTER FUNCTION claim_outbox(text, integer, integer, integer) OWNER TO neurosphere_jobs;
REVOKE CREATE ON SCHEMA public FROM neurosphere_jobs;
REVOKE ALL ON FUNCTION claim_outbox(text, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_outbox(text, integer, integer, integer) TO neurosphere_app;
