-- 0026: urgent claims after hours (engine.urgent_claims): the agency's urgent conditions and
-- the number an urgent claim is put through to while the office is closed. {} is the defaults
-- (an injury, a vehicle that cannot be driven, a home that cannot be lived in; nobody on call).

ALTER TABLE agent_configs
    ADD COLUMN urgent_claims jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(urgent_claims) = 'object');
