-- 0011: the tenant's Notion workspace as a destination of the outbox (destination 'notion').
--
-- `notion_links`: the tenant's integration token (sealed, engine.secret_box) and the ids of its
-- four databases (callers, calls, messages, tasks). `notion_pages` remembers which Notion page
-- holds which of our objects, so a later event updates that page instead of adding another;
-- the sync also looks a page up by its `Key` property before creating one, so a crash between
-- creating a page and remembering it does not duplicate it either.

CREATE TABLE notion_links (
    tenant_id    uuid PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    token_box    bytea NOT NULL,
    callers_db   text NOT NULL CHECK (length(callers_db) BETWEEN 1 AND 64),
    calls_db     text NOT NULL CHECK (length(calls_db) BETWEEN 1 AND 64),
    messages_db  text NOT NULL CHECK (length(messages_db) BETWEEN 1 AND 64),
    tasks_db     text NOT NULL CHECK (length(tasks_db) BETWEEN 1 AND 64),
    enabled      boolean NOT NULL DEFAULT true,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notion_pages (
    tenant_id  uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('caller', 'call', 'message', 'task')),
    key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    page_id    text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, key)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['notion_links', 'notion_pages']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)
                WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)',
            t);
    END LOOP;
END $$;
