-- 0017: tenants' Twilio auth tokens are kept sealed (engine.secret_box, label
-- "twilio-auth-token"), like webhook secrets and Notion tokens: twilio_auth_token_box holds the
-- ciphertext and the plaintext column may no longer be written. The key is derived from the
-- operator's engine secret, which Postgres never sees, so the rows this migration finds in
-- plaintext are sealed right after it by `memory.secret_seal.seal_plaintext_tokens`, which
-- `neurosphere db migrate` (and the engine's start) run with the engine secret. The constraint
-- is NOT VALID: it holds for every row written from now on while the old ones wait for that
-- pass.
ALTER TABLE tenants ADD COLUMN twilio_auth_token_box bytea;
ALTER TABLE tenants ADD CONSTRAINT twilio_auth_token_sealed
    CHECK (twilio_auth_token IS NULL) NOT VALID;
