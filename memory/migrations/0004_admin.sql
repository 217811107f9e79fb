-- 0004: the admin side. Admin users and their sessions (rotating refresh tokens stored hashed),
-- login throttling, the audit log, call recordings, and the agent settings the admin API edits
-- that the schema did not have yet.
--
-- Users, sessions, refresh tokens and the audit log carry tenant_id and get the standard
-- fail-closed tenant_isolation policy. Platform admins belong to no tenant (tenant_id IS NULL):
-- their rows are visible only inside a platform transaction, which sets
-- app.platform = 'on' with set_config(..., true); a tenant transaction never sees them and no
-- setting at all sees nothing. login_throttle has no tenant_id: it is keyed by a digest of the
-- email a login was tried with, known or not, so it is the same for both (no enumeration).

-- Agent and tenant settings ---------------------------------------------------------------------
ALTER TABLE tenants
    ADD COLUMN business_hours jsonb NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(business_hours) = 'object');

ALTER TABLE agent_configs
    ADD COLUMN recording_consent text NOT NULL
        DEFAULT 'This call may be recorded for quality and training purposes.'
        CHECK (length(recording_consent) BETWEEN 1 AND 500),
    ADD COLUMN pii_redaction  boolean NOT NULL DEFAULT false,
    ADD COLUMN retention_days integer NOT NULL DEFAULT 365 CHECK (retention_days BETWEEN 1 AND 3650);

-- The admin call list filters by outcome and transfer; both stay index scans at 100k+ calls.
CREATE INDEX calls_tenant_outcome_started ON calls (tenant_id, outcome, started_at DESC);
CREATE INDEX calls_tenant_transferred_started ON calls (tenant_id, started_at DESC)
    WHERE transferred_to IS NOT NULL;

-- Admin users ------------------------------------------------------------------------------------
CREATE TABLE admin_users (
    user_id             uuid PRIMARY KEY,
    tenant_id           uuid REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    email               text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    role                text NOT NULL CHECK (role IN ('platform_admin', 'owner', 'admin', 'viewer')),
    display_name        text CHECK (length(display_name) BETWEEN 1 AND 200),
    password_hash       text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    disabled_at         timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    last_login_at       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'platform_admin') = (tenant_id IS NULL))
);
-- One account per email across the platform: login finds a user by email alone.
CREATE UNIQUE INDEX admin_users_email ON admin_users (email);
CREATE INDEX admin_users_tenant ON admin_users (tenant_id, created_at);

-- A login session: one refresh-token family. Access tokens name it (claim sid) and are refused
-- once it is revoked, so logout, a password change and disabling a user take effect at once.
CREATE TABLE admin_sessions (
    session_id    uuid PRIMARY KEY,
    tenant_id     uuid REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES admin_users (user_id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text
);
CREATE INDEX admin_sessions_user ON admin_sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens, stored as SHA-256 of their 256-bit secret. Each is used once: using it marks
-- it and issues the next one; presenting a used one again revokes the whole session.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    tenant_id  uuid REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    session_id uuid NOT NULL REFERENCES admin_sessions (session_id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Failed logins per email digest (platform-level, no tenant): growing lockout delays.
CREATE TABLE login_throttle (
    email_digest    bytea PRIMARY KEY CHECK (length(email_digest) = 32),
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_until    timestamptz,
    last_failure_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_throttle_age ON login_throttle (last_failure_at);

-- Audit log: append-only (restrictive policies refuse UPDATE and DELETE; RLS is forced, so
-- that holds for the owner too). `changes` holds field names and non-secret new values, never
-- caller data.
CREATE TABLE audit_log (
    entry_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   uuid REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid,
    actor_email text,
    action      text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    target      text,
    changes     jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(changes) = 'object')
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, entry_id DESC);

-- Call recordings, downloaded from Twilio into the recordings store (file_name is relative to
-- it). One row per Twilio RecordingSid.
CREATE TABLE recordings (
    tenant_id     uuid NOT NULL,
    recording_sid text NOT NULL CHECK (recording_sid ~ '^RE[0-9a-f]{32}$'),
    call_sid      text NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'stored', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    duration_s    integer CHECK (duration_s >= 0),
    channels      integer CHECK (channels BETWEEN 1 AND 2),
    content_type  text,
    size_bytes    bigint CHECK (size_bytes >= 0),
    sha256        text,
    file_name     text CHECK (file_name ~ '^[0-9a-f-]{36}/RE[0-9a-f]{32}\.(wav|mp3)$'),
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    stored_at     timestamptz,
    PRIMARY KEY (tenant_id, recording_sid),
    FOREIGN KEY (tenant_id, call_sid) REFERENCES calls (tenant_id, call_sid) ON DELETE CASCADE
);
CREATE INDEX recordings_call ON recordings (tenant_id, call_sid);

-- Row-level security -----------------------------------------------------------------------------
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['admin_users', 'admin_sessions', 'refresh_tokens', 'audit_log', 'recordings']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)
                WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)',
            t);
    END LOOP;
    -- Platform rows (tenant_id IS NULL), only inside a platform transaction.
    FOREACH t IN ARRAY ARRAY['admin_users', 'admin_sessions', 'refresh_tokens', 'audit_log']
    LOOP
        EXECUTE format(
            'CREATE POLICY platform_scope ON %I
                USING (tenant_id IS NULL AND current_setting(''app.platform'', true) = ''on'')
                WITH CHECK (tenant_id IS NULL AND current_setting(''app.platform'', true) = ''on'')',
            t);
    END LOOP;
END $$;

CREATE POLICY append_only_update ON audit_log AS RESTRICTIVE FOR UPDATE USING (false);
CREATE POLICY append_only_delete ON audit_log AS RESTRICTIVE FOR DELETE USING (false);

-- Lookups before a tenant is known ---------------------------------------------------------------
-- Login knows an email, not a tenant; the platform console lists every tenant. Both functions
-- belong to neurosphere_lookup (as resolve_number in 0001), which may read only the columns
-- granted here, through the SELECT policies below.
GRANT SELECT (user_id, tenant_id, email) ON admin_users TO neurosphere_lookup;
CREATE POLICY login_lookup ON admin_users FOR SELECT TO neurosphere_lookup USING (true);

CREATE FUNCTION admin_login_lookup(p_email text) RETURNS TABLE (user_id uuid, tenant_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT u.user_id, u.tenant_id FROM public.admin_users u WHERE u.email = lower(p_email)
$$;
GRANT CREATE ON SCHEMA public TO neurosphere_lookup;
ALTER FUNCTION admin_login_lookup(text) OWNER TO neurosphere_lookup;
REVOKE CREATE ON SCHEMA public FROM neurosphere_lookup;
REVOKE ALL ON FUNCTION admin_login_lookup(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION admin_login_lookup(text) TO neurosphere_app;

-- Tenants page by page, for platform admins: names and limits, never Twilio credentials.
GRANT SELECT (name, time_zone, max_concurrent_calls, business_hours, created_at, updated_at)
    ON tenants TO neurosphere_lookup;

CREATE FUNCTION platform_tenants(p_after uuid, p_limit integer, p_status text)
    RETURNS TABLE (tenant_id uuid, name text, status text, time_zone text,
                   max_concurrent_calls integer, created_at timestamptz, updated_at timestamptz,
                   numbers text[])
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT t.tenant_id, t.name, t.status, t.time_zone, t.max_concurrent_calls, t.created_at,
           t.updated_at,
           coalesce((SELECT array_agg(p.e164 ORDER BY p.e164) FROM public.phone_numbers p
                     WHERE p.tenant_id = t.tenant_id), '{}')
    FROM public.tenants t
    WHERE (p_after IS NULL OR t.tenant_id > p_after)
      AND (p_status IS NULL OR t.status = p_status)
    ORDER BY t.tenant_id
    LIMIT least(greatest(p_limit, 1), 200)
$$;
GRANT CREATE ON SCHEMA public TO neurosphere_lookup;
ALTER FUNCTION platform_tenants(uuid, integer, text) OWNER TO neurosphere_lookup;
REVOKE CREATE ON SCHEMA public FROM neurosphere_lookup;
REVOKE ALL ON FUNCTION platform_tenants(uuid, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_tenants(uuid, integer, text) TO neurosphere_app;
