-- 0012: a notification when turns are written (or the call ends), so the console can show a live call's transcript
-- without the call actor doing anything more than the turn batch it already writes. One
-- notification per call per INSERT statement (a batch of turns is one statement), on channel
-- `call_turns`, payload `<tenant id>:<call sid>`; memory.turn_feed listens and re-reads the
-- turns under the tenant's policy. The payload carries no transcript text.
CREATE FUNCTION notify_call_turns() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    target record;
BEGIN
    FOR target IN SELECT DISTINCT tenant_id, call_sid FROM new_turns LOOP
        PERFORM pg_notify('call_turns', target.tenant_id::text || ':' || target.call_sid);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER call_turns_notify
    AFTER INSERT ON call_turns
    REFERENCING NEW TABLE AS new_turns
    FOR EACH STATEMENT EXECUTE FUNCTION notify_call_turns();

-- The end of a call is news to a watcher too (the stream closes): the same channel, once.
CREATE FUNCTION notify_call_ended() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('call_turns', NEW.tenant_id::text || ':' || NEW.call_sid);
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_ended_notify
    AFTER UPDATE OF ended_at ON calls
    FOR EACH ROW WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL)
    EXECUTE FUNCTION notify_call_ended();
