-- 0025: tools an agency defines for its own agent (admin API /custom-tools). During a call the
-- model is offered them next to the built-in tools; the engine posts the validated arguments to
-- `url`, signed with the tool's secret (engine.signing), and hands the answer to the model.
-- The secret is write-only in the admin API and kept sealed (engine.secret_box, label
-- "tenant-tool-secret") like a tenant's Twilio token.

CREATE TABLE tenant_tools (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    tool_id     uuid NOT NULL,
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{1,47}$'),
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 1000),
    parameters  jsonb NOT NULL CHECK (jsonb_typeof(parameters) = 'object'),
    url         text NOT NULL CHECK (url ~ '^https?://'),
    secret_box  bytea NOT NULL,
    timeout_ms  integer NOT NULL DEFAULT 5000 CHECK (timeout_ms BETWEEN 500 AND 10000),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tool_id),
    UNIQUE (tenant_id, name)
);

ALTER TABLE tenant_tools ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_tools FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_tools
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
