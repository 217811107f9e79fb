-- 0028: the tenant's overflow choice (engine.overflow): what a caller gets when the node has no
-- room - the polite message, a transfer to the fallback number, or Twilio's queue, held at most
-- queue_max_wait_s. {} is the defaults (a transfer when there is a fallback number, else the
-- message; 120 s in the queue).

ALTER TABLE agent_configs
    ADD COLUMN overflow jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(overflow) = 'object');
