-- 0010: invitations to a tenant (memory.invitations). A platform admin or a tenant's owner or
-- admin invites an email with a role; the invited person follows a single-use, expiring link
-- and chooses their own password. Only SHA-256 of the link's secret is stored. The link names
-- its tenant (as refresh tokens do), so accepting one runs in that tenant's transaction under
-- the usual tenant policy; no lookup across tenants is needed.
CREATE TABLE admin_invitations (
    token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    tenant_id    uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    email        text NOT NULL CHECK (email = lower(email)),
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
    display_name text,
    invited_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    user_id      uuid
);
CREATE INDEX admin_invitations_tenant ON admin_invitations (tenant_id, created_at DESC);

ALTER TABLE admin_invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE admin_invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON admin_invitations
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
