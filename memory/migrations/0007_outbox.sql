-- 0007: the outbox. Everything the engine tells the agency's systems leaves through here.
--
-- `outbox` holds one row per (event, destination): written in the same transaction as the
-- event it reports (memory.outbox.emit), so an event that committed is never lost and one that
-- rolled back is never sent. The event id is derived from the event's natural key, so emitting
-- the same event twice adds nothing, and it travels as the idempotency key of every attempt:
-- a receiver that sees it twice (a retry after a lost answer, a replay) can tell.
-- Each row has its own retry clock (attempts, run_after): a destination that is down backs off
-- without holding up the others; past the last attempt, or on an answer that retrying cannot
-- fix, the row is `dead` (dead-lettered) and waits for an admin's replay.
-- `outbox_attempts` is the delivery log: one row per attempt, with the answer's status.
-- `webhook_endpoints` are the agency's own HTTPS receivers; the signing secret is stored
-- sealed (engine.secret_box), never in plaintext.

CREATE TABLE webhook_endpoints (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    endpoint_id uuid NOT NULL,
    url         text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    secret_box  bytea NOT NULL,
    events      text[] NOT NULL DEFAULT '{}',  -- empty: every event
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, endpoint_id)
);

CREATE TABLE outbox (
    tenant_id    uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    delivery_id  uuid NOT NULL DEFAULT gen_random_uuid(),
    event_id     uuid NOT NULL,
    event_type   text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),
    destination  text NOT NULL CHECK (length(destination) BETWEEN 1 AND 200),
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'running', 'delivered', 'dead')),
    attempts     integer NOT NULL DEFAULT 0,
    run_after    timestamptz NOT NULL DEFAULT now(),
    lease_id     uuid,
    locked_until timestamptz,
    last_status  integer,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    PRIMARY KEY (tenant_id, delivery_id),
    UNIQUE (tenant_id, event_id, destination)
);
CREATE INDEX outbox_ready ON outbox (run_after) WHERE status IN ('pending', 'running');
CREATE INDEX outbox_recent ON outbox (tenant_id, created_at DESC);

CREATE TABLE outbox_attempts (
    tenant_id   uuid NOT NULL,
    delivery_id uuid NOT NULL,
    attempt_id  bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    duration_ms real NOT NULL,
    status_code integer,
    error       text,
    PRIMARY KEY (tenant_id, delivery_id, attempt_id),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES outbox (tenant_id, delivery_id)
        ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'outbox', 'outbox_attempts']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)
                WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)',
            t);
    END LOOP;
END $$;

-- Claiming due deliveries sees every tenant's outbox, as claim_post_call_job does for jobs
-- (0003): the function belongs to neurosphere_jobs, returns keys and a lease only, and marks
-- rows whose worker died holding them past the last attempt as dead.
GRANT SELECT, UPDATE ON outbox TO neurosphere_jobs;
CREATE POLICY outbox_claim_select ON outbox FOR SELECT TO neurosphere_jobs USING (true);
CREATE POLICY outbox_claim_update ON outbox FOR UPDATE TO neurosphere_jobs
    USING (true) WITH CHECK (true);

CREATE FUNCTION claim_outbox(p_limit integer, p_lease_s integer, p_max_attempts integer)
    RETURNS TABLE (tenant_id uuid, delivery_id uuid, attempts integer, lease_id uuid)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    UPDATE public.outbox o
       SET status = 'dead', last_error = coalesce(o.last_error, 'lease expired'),
           lease_id = NULL, locked_until = NULL
     WHERE o.status = 'running' AND o.locked_until < now() AND o.attempts >= p_max_attempts;

    WITH next AS (
        SELECT n.tenant_id, n.delivery_id FROM public.outbox n
         WHERE (n.status = 'pending' AND n.run_after <= now())
            OR (n.status = 'running' AND n.locked_until < now())
         ORDER BY n.run_after
         LIMIT p_limit
         FOR UPDATE SKIP LOCKED
    )
    UPDATE public.outbox o
       SET status = 'running', attempts = o.attempts + 1, lease_id = gen_random_uuid(),
           locked_until = now() + make_interval(secs => p_lease_s)
      FROM next
     WHERE o.tenant_id = next.tenant_id AND o.delivery_id = next.delivery_id
    RETURNING o.tenant_id, o.delivery_id, o.attempts, o.lease_id
$$;
GRANT CREATE ON SCHEMA public TO neurosphere_jobs;
ALTER FUNCTION claim_outbox(integer, integer, integer) OWNER TO neurosphere_jobs;
REVOKE CREATE ON SCHEMA public FROM neurosphere_jobs;
REVOKE ALL ON FUNCTION claim_outbox(integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_outbox(integer, integer, integer) TO neurosphere_app;
