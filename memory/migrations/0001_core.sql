-- 0001: tenants, phone numbers, calls and their turns, with row-level security from the start.
-- Runs as the owner role. Every table with tenant_id gets RLS ENABLEd and FORCEd with one
-- policy that has USING and WITH CHECK and fails closed when app.tenant_id is unset.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE tenants (
    tenant_id            uuid PRIMARY KEY,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    time_zone            text NOT NULL DEFAULT 'America/New_York',
    max_concurrent_calls integer NOT NULL DEFAULT 10 CHECK (max_concurrent_calls BETWEEN 1 AND 10000),
    twilio_account_sid   text,
    twilio_auth_token    text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_configs (
    tenant_id          uuid PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    agent_name         text NOT NULL DEFAULT 'Ava',
    voice              text NOT NULL DEFAULT 'marin',
    greeting_new       text NOT NULL DEFAULT '{time_greeting}! This is {agent_name}. How can I help you?',
    greeting_returning text NOT NULL DEFAULT 'Hi, this is {agent_name}. Is this {user_name}?',
    vad                jsonb NOT NULL DEFAULT '{}'::jsonb,
    sliders            jsonb NOT NULL DEFAULT '{}'::jsonb,
    blocks             jsonb NOT NULL DEFAULT '{}'::jsonb,
    record_calls       boolean NOT NULL DEFAULT false,
    version            integer NOT NULL DEFAULT 1,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE phone_numbers (
    e164       text PRIMARY KEY CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX phone_numbers_tenant ON phone_numbers (tenant_id);

CREATE TABLE calls (
    tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    call_sid       text NOT NULL CHECK (call_sid ~ '^CA[0-9a-f]{32}$'),
    from_number    text NOT NULL,
    to_number      text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    answered_at    timestamptz,
    ended_at       timestamptz,
    outcome        text,
    end_detail     text,
    twilio_status  text,
    duration_ms    integer,
    billed_seconds integer,
    webhook_ms     real,
    greeting_ms    real,
    transferred_to text,
    streams        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, call_sid)
);
CREATE INDEX calls_tenant_started ON calls (tenant_id, started_at DESC);
CREATE INDEX calls_tenant_from ON calls (tenant_id, from_number, started_at DESC);

CREATE TABLE call_turns (
    tenant_id uuid NOT NULL,
    call_sid  text NOT NULL,
    seq       integer NOT NULL CHECK (seq >= 0),
    role      text NOT NULL CHECK (role IN ('caller', 'agent', 'dtmf', 'tool', 'system')),
    text      text NOT NULL,
    meta      jsonb NOT NULL DEFAULT '{}'::jsonb,
    at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, call_sid, seq),
    FOREIGN KEY (tenant_id, call_sid) REFERENCES calls (tenant_id, call_sid) ON DELETE CASCADE
);

-- Twilio callbacks carry no timestamp-bound signature: replays are ours to absorb. One row per
-- (call, kind, key) makes every callback idempotent.
CREATE TABLE call_events (
    tenant_id uuid NOT NULL,
    call_sid  text NOT NULL,
    kind      text NOT NULL,
    key       text NOT NULL,
    payload   jsonb NOT NULL DEFAULT '{}'::jsonb,
    at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, call_sid, kind, key)
);

-- Row-level security ---------------------------------------------------------------------------
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'agent_configs', 'phone_numbers', 'calls', 'call_turns', 'call_events']
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

-- The one lookup that must work before a tenant is known: which tenant owns a dialed number.
-- The function belongs to neurosphere_lookup (NOLOGIN, created at bootstrap), whose only rights
-- are reading these two columns through the SELECT policies below; it reveals a tenant id and
-- nothing else. The app role may execute it but cannot become that role.
GRANT SELECT (e164, tenant_id) ON phone_numbers TO neurosphere_lookup;
GRANT SELECT (tenant_id, status) ON tenants TO neurosphere_lookup;
CREATE POLICY number_lookup ON phone_numbers FOR SELECT TO neurosphere_lookup USING (true);
CREATE POLICY number_lookup ON tenants FOR SELECT TO neurosphere_lookup USING (true);

CREATE FUNCTION resolve_number(number text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT p.tenant_id FROM public.phone_numbers p
    JOIN public.tenants t ON t.tenant_id = p.tenant_id
    WHERE p.e164 = number AND t.status = 'active'
$$;
-- A new owner needs CREATE on the schema at the moment of the change, and not after it.
GRANT CREATE ON SCHEMA public TO neurosphere_lookup;
ALTER FUNCTION resolve_number(text) OWNER TO neurosphere_lookup;
REVOKE CREATE ON SCHEMA public FROM neurosphere_lookup;
REVOKE ALL ON FUNCTION resolve_number(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resolve_number(text) TO neurosphere_app;

-- Which tenants exist, so the engine can start their actors before their first call.
CREATE FUNCTION active_tenants() RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT t.tenant_id FROM public.tenants t WHERE t.status = 'active' ORDER BY t.tenant_id
$$;
GRANT CREATE ON SCHEMA public TO neurosphere_lookup;
ALTER FUNCTION active_tenants() OWNER TO neurosphere_lookup;
REVOKE CREATE ON SCHEMA public FROM neurosphere_lookup;
REVOKE ALL ON FUNCTION active_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION active_tenants() TO neurosphere_app;
