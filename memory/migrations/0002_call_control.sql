-- 0002: call control settings per agent, and the messages/callback requests the agent takes.

ALTER TABLE agent_configs
    ADD COLUMN transfer_rules     jsonb   NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN dtmf_actions       jsonb   NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN tools              jsonb   NOT NULL DEFAULT '["end_call", "transfer_call", "get_current_time", "take_message", "remember"]'::jsonb,
    ADD COLUMN max_call_seconds   integer NOT NULL DEFAULT 1800 CHECK (max_call_seconds BETWEEN 60 AND 14400),
    ADD COLUMN silence_timeout_s  integer NOT NULL DEFAULT 10 CHECK (silence_timeout_s BETWEEN 3 AND 120),
    ADD COLUMN fallback_number    text CHECK (fallback_number ~ '^\+[1-9][0-9]{6,14}$');

CREATE TABLE messages (
    tenant_id      uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    message_id     uuid NOT NULL,
    call_sid       text NOT NULL,
    caller_number  text NOT NULL,
    caller_name    text,
    reason         text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    preferred_time text,
    callback_number text,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    done_at        timestamptz,
    PRIMARY KEY (tenant_id, message_id),
    UNIQUE (tenant_id, call_sid, reason)
);
CREATE INDEX messages_tenant_open ON messages (tenant_id, status, created_at DESC);

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON messages
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
