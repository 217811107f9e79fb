-- 0019: a tenant's agent may speak with an ElevenLabs voice (actors/tts_voice.py): the realtime
-- model answers in text and the voice speaks it. NULL: the model's own voice (agent_configs.voice).
-- {"voice_id", "model_id", "stability", "similarity_boost", "speed"}
ALTER TABLE agent_configs
    ADD COLUMN elevenlabs_voice jsonb CHECK (
        elevenlabs_voice IS NULL
        OR (jsonb_typeof(elevenlabs_voice) = 'object'
            AND jsonb_typeof(elevenlabs_voice -> 'voice_id') = 'string')
    );
