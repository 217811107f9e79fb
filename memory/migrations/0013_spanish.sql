-- 0013: Spanish-speaking callers. An agency can let its agent speak Spanish (the greeting then
-- offers it and the agent answers in the caller's language); each call records the language
-- it was held in (NULL for calls before this migration and calls with no caller speech).

ALTER TABLE agent_configs ADD COLUMN spanish boolean NOT NULL DEFAULT false;
ALTER TABLE calls ADD COLUMN language text CHECK (language IN ('en', 'es'));
