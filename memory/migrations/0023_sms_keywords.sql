-- 0023: STOP, START and HELP texted to an agency's number (POST /twilio/sms).
--
-- `sms_keywords` records each keyword message once, by Twilio's MessageSid: a replayed webhook
-- (Twilio's signatures carry no timestamp) changes nothing, so an old STOP cannot undo a later
-- START. A STOP adds the number to `sms_opt_outs` (0009), which every text the engine sends
-- honours; a START removes it; HELP is only recorded.

CREATE TABLE sms_keywords (
    tenant_id   uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    message_sid text NOT NULL CHECK (message_sid ~ '^(SM|MM)[0-9a-f]{32}$'),
    number      text NOT NULL CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
    keyword     text NOT NULL CHECK (keyword IN ('stop', 'start', 'help')),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, message_sid)
);
CREATE INDEX sms_keywords_number ON sms_keywords (tenant_id, number, received_at DESC);

ALTER TABLE sms_keywords ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_keywords FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sms_keywords
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
