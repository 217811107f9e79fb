-- 0014: caller verification (engine.verification). A caller ID proves nothing, so what the agency
-- remembers about a caller reaches the model only after the caller has stated identifiers their
-- profile holds.
--
-- agent_configs.verification: the tenant's policy (which identifiers, how many must match, the
-- attempt limits, whether an unverified caller may be greeted by first name). Required by
-- default, for existing tenants too.
-- caller_identifiers: the identifiers an agency has on file for a caller, normalised
-- (engine.verification.normalise), set by admins - never by what a caller says on a call.
-- verification_attempts: every attempt, verified or not, with the fields asked (never their
-- values); the caller's recent failures drive the cool-down across calls.
ALTER TABLE agent_configs
    ADD COLUMN verification jsonb NOT NULL
        DEFAULT '{"required": true, "fields": ["date_of_birth", "zip_code"], "matches_needed": 2, "greet_by_name": true}'::jsonb
        CHECK (jsonb_typeof(verification) = 'object');

CREATE TABLE caller_identifiers (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    caller_number text NOT NULL CHECK (length(caller_number) BETWEEN 1 AND 64),
    field         text NOT NULL
        CHECK (field IN ('date_of_birth', 'zip_code', 'policy_number', 'last_name')),
    value         text NOT NULL CHECK (length(value) BETWEEN 1 AND 200),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, caller_number, field)
);

CREATE TABLE verification_attempts (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    attempt_id    bigint GENERATED ALWAYS AS IDENTITY,
    caller_number text NOT NULL CHECK (length(caller_number) BETWEEN 1 AND 64),
    call_sid      text NOT NULL CHECK (length(call_sid) BETWEEN 1 AND 64),
    at            timestamptz NOT NULL DEFAULT now(),
    verified      boolean NOT NULL,
    reason        text NOT NULL CHECK (reason ~ '^[a-z_]{1,32}$'),
    fields        text[] NOT NULL,
    PRIMARY KEY (tenant_id, attempt_id)
);
CREATE INDEX verification_attempts_caller
    ON verification_attempts (tenant_id, caller_number, at DESC);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['caller_identifiers', 'verification_attempts']
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
