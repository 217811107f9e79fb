-- 0009: texts to the agency's staff through the outbox (destination 'sms:<number>').
--
-- `staff_sms` lists who on the staff is texted, and for which events (message.taken by
-- default). `sms_opt_outs` holds numbers that said STOP (Twilio's error 21610 on a send, or an
-- admin): nothing is queued for them and nothing queued is sent to them.

CREATE TABLE staff_sms (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    number     text NOT NULL CHECK (number ~ '^\+[1-9][0-9]{6,14}$'),
    events     text[] NOT NULL DEFAULT '{message.taken}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, number)
);

CREATE TABLE sms_opt_outs (
    tenant_id     uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    number        text NOT NULL,
    opted_out_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, number)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['staff_sms', 'sms_opt_outs']
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
