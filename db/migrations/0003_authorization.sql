-- Authorization of integrations against Google: the stored credential (service-account key or
-- OAuth refresh token, sealed with AES-256-GCM by the service; the database never sees a
-- plaintext) and the single-use states of the consent flow.

CREATE TABLE integration_credentials (
	integration_id uuid PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	kind text NOT NULL CHECK (kind IN ('service_account', 'oauth')),
	client_email text,          -- the service account's email (service_account)
	client_id text NOT NULL,    -- the service account's numeric id, or the OAuth client id
	admin_email text,           -- the admin impersonated (service_account) or who consented
	scopes text NOT NULL,
	-- Sealed text "v1.<kid>.<...>" (aad = the integration id); stripped from the audit trail.
	secret text NOT NULL,
	key_id text NOT NULL,       -- kid of the key that sealed secret (rotation finds old ones)
	authorized_at timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz,
	last_error_reason text,
	last_error_message text,
	last_error_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX integration_credentials_key_id ON integration_credentials (key_id);
CREATE TRIGGER integration_credentials_audit AFTER INSERT OR UPDATE OR DELETE
	ON integration_credentials
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('integration_authorization', 'integration_id');

-- One row per consent URL handed out. Only the SHA-256 of the state is kept, so a database
-- reader cannot complete someone's consent; the PKCE verifier is sealed (aad = state_hash).
CREATE TABLE oauth_states (
	state_hash text PRIMARY KEY CHECK (state_hash ~ '^[0-9a-f]{64}$'),
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	integration_id uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	admin_email text,
	actor_key_id uuid,          -- the API key that asked for the consent URL (audit of the callback)
	secret text NOT NULL,
	key_id text NOT NULL,
	redirect_uri text NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
