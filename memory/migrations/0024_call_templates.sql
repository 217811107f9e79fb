-- 0024: call templates (memory.call_templates) and what the post-call job extracted with them.
--
-- `call_templates` holds the templates an agency has switched on or written: a ready insurance
-- template (claim intake, certificate request, ...) copied in, or its own; `definition` is the
-- name, when it applies and the fields, as the admin API validated it. The post-call job asks
-- for the enabled ones and stores the template it chose, with the fields it found, on the
-- call's summary (`template`, `template_fields`).

CREATE TABLE call_templates (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    key        text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{1,39}$' AND key <> 'none'),
    definition jsonb NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

ALTER TABLE call_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE call_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON call_templates
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

ALTER TABLE call_summaries
    ADD COLUMN template text,
    ADD COLUMN template_fields jsonb NOT NULL DEFAULT '{}';
