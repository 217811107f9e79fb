-- 0016: what the store keeps of a call's words.
--
-- agent_configs.pii_redaction: on by default for new tenants (card numbers, SSNs, dates of
-- birth, policy and account numbers are replaced in turns, messages, memories and summaries by
-- memory.content_policy). Existing tenants keep the choice they made.
-- agent_configs.keep_transcripts: false is the "no transcripts" mode - the store keeps none of
-- a call's words (turns are kept as role, order and timing with empty text; no summary or
-- memory is taken from the call); the call, its outcome and its metrics are still recorded.
ALTER TABLE agent_configs ALTER COLUMN pii_redaction SET DEFAULT true;
ALTER TABLE agent_configs ADD COLUMN keep_transcripts boolean NOT NULL DEFAULT true;
