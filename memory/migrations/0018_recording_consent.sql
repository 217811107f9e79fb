-- 0018: recording consent (engine.recording_consent).
--
-- agent_configs.recording_notice: which callers hear the recording notice before recording
-- starts - 'always' (every caller; the default), or 'all_party_states' (when the agency's state
-- or the caller's, by the area code of their number, requires every party's consent). Such a
-- call is not recorded from the answer: the engine starts the recording through Twilio's REST
-- API once the notice has played, and stops it (or never starts it) when the caller says no.
-- calls.recording: what happened to the call's recording - from_start, after_notice,
-- not_started (the call ended before the notice had played) or declined.
ALTER TABLE agent_configs
    ADD COLUMN recording_notice text NOT NULL DEFAULT 'always'
        CHECK (recording_notice IN ('always', 'all_party_states'));
ALTER TABLE calls
    ADD COLUMN recording text
        CHECK (recording IN ('from_start', 'after_notice', 'not_started', 'declined'));
