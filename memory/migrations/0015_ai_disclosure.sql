-- 0015: AI disclosure (prompts.disclosure). The greeting must tell the caller they are talking
-- with an AI where the tenant asks for it always, where its jurisdiction's law requires it
-- (tenants.jurisdiction, a US state code), or everywhere when a platform admin makes it
-- mandatory (platform_settings, one row, no tenant: set by platform admins only, read by every
-- tenant's config load).
ALTER TABLE tenants
    ADD COLUMN jurisdiction text CHECK (jurisdiction ~ '^[A-Z]{2}$'),
    ADD COLUMN ai_disclosure text NOT NULL DEFAULT 'jurisdiction'
        CHECK (ai_disclosure IN ('always', 'jurisdiction'));

CREATE TABLE platform_settings (
    singleton               boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    ai_disclosure_mandatory boolean NOT NULL DEFAULT false,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
INSERT INTO platform_settings DEFAULT VALUES;
