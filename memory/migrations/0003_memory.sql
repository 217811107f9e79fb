-- 0003: caller memory. Profiles, keyed memories with their history, call summaries,
-- personality per call and per caller, agency knowledge, the consolidation ledger and the
-- durable post-call job queue. Every table carries tenant_id and gets the same fail-closed
-- RLS policy as 0001. Embeddings are vector(384): the dimension is fixed per deployment and
-- the memory actors check it against their provider at start-up.

-- Profiles: one row per caller (phone number) per tenant. total_calls counts processed calls.
CREATE TABLE caller_profiles (
    tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    caller_number  text NOT NULL CHECK (length(caller_number) BETWEEN 1 AND 64),
    preferred_name text CHECK (length(preferred_name) BETWEEN 1 AND 200),
    first_call_at  timestamptz,
    last_call_at   timestamptz,
    total_calls    integer NOT NULL DEFAULT 0 CHECK (total_calls >= 0),
    preferences    jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(preferences) = 'object'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, caller_number)
);

-- Memories: one row per stable (tenant, caller, type, key). A new value for the same key
-- updates the row; the trigger below keeps the old value in memory_history.
CREATE TABLE memories (
    tenant_id       uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    memory_id       uuid NOT NULL DEFAULT gen_random_uuid(),
    caller_number   text NOT NULL CHECK (length(caller_number) BETWEEN 1 AND 64),
    type            text NOT NULL CHECK (type ~ '^[a-z][a-z_]{0,31}$'),
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    value           jsonb NOT NULL,
    content         text NOT NULL CHECK (length(content) <= 4000),
    embedding       vector(384),
    source_call_sid text,
    version         integer NOT NULL DEFAULT 1,
    expires_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, memory_id),
    UNIQUE (tenant_id, caller_number, type, key)
);
CREATE INDEX memories_embedding ON memories USING hnsw (embedding vector_cosine_ops);
CREATE INDEX memories_expiry ON memories (tenant_id, expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE memory_history (
    tenant_id       uuid NOT NULL,
    memory_id       uuid NOT NULL,
    version         integer NOT NULL,
    value           jsonb NOT NULL,
    content         text NOT NULL,
    source_call_sid text,
    valid_from      timestamptz NOT NULL,
    replaced_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, memory_id, version),
    FOREIGN KEY (tenant_id, memory_id) REFERENCES memories (tenant_id, memory_id) ON DELETE CASCADE
);

-- Runs as the writing role (not SECURITY DEFINER), so the history row passes the same RLS
-- check as the update that caused it.
CREATE FUNCTION memories_keep_history() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, public
AS $$
BEGIN
    IF OLD.value IS DISTINCT FROM NEW.value THEN
        INSERT INTO public.memory_history
            (tenant_id, memory_id, version, value, content, source_call_sid, valid_from)
        VALUES
            (OLD.tenant_id, OLD.memory_id, OLD.version, OLD.value, OLD.content,
             OLD.source_call_sid, OLD.updated_at);
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER memories_history BEFORE UPDATE ON memories
    FOR EACH ROW EXECUTE FUNCTION memories_keep_history();

CREATE TABLE call_summaries (
    tenant_id         uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    call_sid          text NOT NULL,
    caller_number     text NOT NULL CHECK (length(caller_number) BETWEEN 1 AND 64),
    call_at           timestamptz NOT NULL,
    summary           text NOT NULL CHECK (length(summary) <= 8000),
    key_topics        text[] NOT NULL DEFAULT '{}',
    key_variables     jsonb NOT NULL DEFAULT '{}'::jsonb,
    sentiment         text,
    resolution_status text,
    duration_ms       integer,
    embedding         vector(384),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, call_sid)
);
CREATE INDEX call_summaries_caller ON call_summaries (tenant_id, caller_number, call_at DESC);
CREATE INDEX call_summaries_embedding ON call_summaries USING hnsw (embedding vector_cosine_ops);

-- The 13 scores (0-100) of one call, as a JSON object trait -> score.
CREATE TABLE personality_metrics (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    call_sid      text NOT NULL,
    caller_number text NOT NULL CHECK (length(caller_number) BETWEEN 1 AND 64),
    call_at       timestamptz NOT NULL,
    scores        jsonb NOT NULL CHECK (jsonb_typeof(scores) = 'object'),
    PRIMARY KEY (tenant_id, call_sid)
);
CREATE INDEX personality_metrics_caller ON personality_metrics (tenant_id, caller_number, call_at DESC);

-- Per caller: averages over all calls, the state scores over the last 3 calls, and the trend
-- (least-squares slope in points per call over the last 5 calls).
CREATE TABLE personality_averages (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    caller_number text NOT NULL CHECK (length(caller_number) BETWEEN 1 AND 64),
    calls         integer NOT NULL CHECK (calls >= 0),
    averages      jsonb NOT NULL,
    recent        jsonb NOT NULL,
    trend         jsonb NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, caller_number)
);

CREATE TABLE knowledge_entries (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    entry_id   uuid NOT NULL DEFAULT gen_random_uuid(),
    kind       text NOT NULL CHECK (kind IN ('fact', 'rule', 'procedure', 'faq')),
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 8000),
    embedding  vector(384),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, entry_id),
    UNIQUE (tenant_id, kind, title)
);
CREATE INDEX knowledge_entries_embedding ON knowledge_entries USING hnsw (embedding vector_cosine_ops);

-- Consolidations already applied, by a digest of the turns: the same turns twice store once.
CREATE TABLE memory_consolidations (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    call_sid      text NOT NULL,
    digest        text NOT NULL,
    caller_number text NOT NULL,
    first_seq     integer NOT NULL,
    last_seq      integer NOT NULL,
    items         integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, call_sid, digest)
);

-- Post-call work, one job per call. Claimed across tenants by claim_post_call_job() below;
-- everything else about a job happens in its tenant's transaction.
CREATE TABLE post_call_jobs (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    call_sid      text NOT NULL,
    caller_number text NOT NULL CHECK (length(caller_number) BETWEEN 1 AND 64),
    queue         text NOT NULL DEFAULT 'default' CHECK (length(queue) BETWEEN 1 AND 64),
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    run_after     timestamptz NOT NULL DEFAULT now(),
    lease_id      uuid,
    locked_until  timestamptz,
    last_error    text,
    items_stored  integer,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    PRIMARY KEY (tenant_id, call_sid)
);
CREATE INDEX post_call_jobs_ready ON post_call_jobs (queue, run_after)
    WHERE status IN ('pending', 'running');

-- Row-level security ---------------------------------------------------------------------------
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['caller_profiles', 'memories', 'memory_history', 'call_summaries',
                             'personality_metrics', 'personality_averages', 'knowledge_entries',
                             'memory_consolidations', 'post_call_jobs']
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

-- Claiming the next job needs to see every tenant's queue. claim_post_call_job() belongs to
-- neurosphere_jobs (NOLOGIN, created at bootstrap), whose only rights are reading and updating
-- post_call_jobs through the policies below; it returns one job's keys and a lease, nothing
-- else. The app role may execute it but cannot become that role. A job whose lease expired
-- is claimable again (its worker died); past max_attempts it is marked failed instead.
GRANT SELECT, UPDATE ON post_call_jobs TO neurosphere_jobs;
CREATE POLICY job_claim_select ON post_call_jobs FOR SELECT TO neurosphere_jobs USING (true);
CREATE POLICY job_claim_update ON post_call_jobs FOR UPDATE TO neurosphere_jobs
    USING (true) WITH CHECK (true);

CREATE FUNCTION claim_post_call_job(p_queue text, p_lease_s integer, p_max_attempts integer)
    RETURNS TABLE (tenant_id uuid, call_sid text, attempts integer, lease_id uuid)
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    UPDATE public.post_call_jobs j
       SET status = 'failed', last_error = coalesce(j.last_error, 'lease expired'),
           lease_id = NULL, locked_until = NULL, finished_at = now()
     WHERE j.queue = p_queue AND j.status = 'running' AND j.locked_until < now()
       AND j.attempts >= p_max_attempts;

    WITH next AS (
        SELECT n.tenant_id, n.call_sid FROM public.post_call_jobs n
         WHERE n.queue = p_queue
           AND ((n.status = 'pending' AND n.run_after <= now())
                OR (n.status = 'running' AND n.locked_until < now()))
         ORDER BY n.run_after
         LIMIT 1
         FOR UPDATE SKIP LOCKED
    )
    UPDATE public.post_call_jobs j
       SET status = 'running', attempts = j.attempts + 1, lease_id = gen_random_uuid(),
           locked_until = now() + make_interval(secs => p_lease_s)
      FROM next
     WHERE j.tenant_id = next.tenant_id AND j.call_sid = next.call_sid
    RETURNING j.tenant_id, j.call_sid, j.attempts, j.lease_id
$$;
GRANT CREATE ON SCHEMA public TO neurosphere_jobs;
ALTER FUNCTION claim_post_call_job(text, integer, integer) OWNER TO neurosphere_jobs;
REVOKE CREATE ON SCHEMA public FROM neurosphere_jobs;
REVOKE ALL ON FUNCTION claim_post_call_job(text, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_post_call_job(text, integer, integer) TO neurosphere_app;
