-- 0029: a message taken for an urgent claim after hours (engine.urgent_claims) keeps the urgent
-- condition it was reported under, so the admin API and the integrations can show it. NULL for
-- every other message.

ALTER TABLE messages
    ADD COLUMN urgent text CHECK (urgent IS NULL OR length(urgent) BETWEEN 1 AND 200);
