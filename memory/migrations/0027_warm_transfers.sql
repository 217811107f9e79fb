-- 0026: warm transfers (engine.warm_transfer, memory.warm_transfers).
--
-- A transfer rule's mode lives in agent_configs.transfer_rules (jsonb: "mode" cold or warm;
-- absent is cold). On the call's row: when the caller was put on hold for a warm transfer,
-- when the person who answered accepted it (joined), and what became of it - completed,
-- busy, no-answer, failed, canceled or declined.
ALTER TABLE calls
    ADD COLUMN transfer_held_at   timestamptz,
    ADD COLUMN transfer_joined_at timestamptz,
    ADD COLUMN transfer_result    text
        CHECK (transfer_result IN ('completed', 'busy', 'no-answer', 'failed', 'canceled',
                                   'declined'));
