-- Tenants of the platform and the API keys that act for them.

CREATE TABLE tenants (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_name_ci ON tenants (lower(name));

CREATE TABLE api_keys (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	role text NOT NULL CHECK (role IN ('reader', 'editor', 'operator')),
	-- SHA-256 of the whole key; the key itself is shown once and never stored.
	key_hash text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
	prefix text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz,
	revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at DESC, id DESC);
