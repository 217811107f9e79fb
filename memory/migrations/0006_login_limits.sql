-- 0006: login and token-refresh rate limits, shared by every Serve replica (memory.login_limits).
--
-- One row per limited key: an HMAC of the limit's name and the client IP or email digest (never
-- the address or email itself), the times of the hits that still count (a sliding window of at
-- most `limit` entries), whether the latest hit was allowed, and when the row stops mattering.
-- Like login_throttle it has no tenant_id - a login knows no tenant yet - so it carries no
-- tenant policy; the app role gets its privileges with every other table (memory.migrate).
-- UNLOGGED: the rows are a minute's worth of counters, not worth WAL; a crash or a failover
-- empties the table, which only forgives the hits of the last minute.
CREATE UNLOGGED TABLE login_limits (
    limit_key  bytea PRIMARY KEY CHECK (length(limit_key) = 32),
    hits       timestamptz[] NOT NULL,
    allowed    boolean NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX login_limits_expiry ON login_limits (expires_at);
