-- 0021: a tenant may bring its own ElevenLabs key (write-only in the admin API), kept sealed
-- (engine.secret_box, label "elevenlabs-api-key") like its Twilio token; NULL: the platform's
-- ELEVENLABS_API_KEY.
ALTER TABLE tenants ADD COLUMN elevenlabs_key_box bytea;
