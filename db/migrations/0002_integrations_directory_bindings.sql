-- Integration management: integrations and their domains and attribute rules, the replica of the
-- platform's directory, bindings, links to Google objects, audit and idempotency.

-- Who is acting, for the audit trigger: set per transaction by the store (set_config(..., true)).
CREATE FUNCTION gwsync_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	actor text := nullif(current_setting('gwsync.actor_key_id', true), '');
	before_row jsonb;
	after_row jsonb;
	row_tenant uuid;
	resource_id text;
BEGIN
	IF actor IS NULL THEN
		RETURN NULL; -- not an API change (directory events, jobs): not audited here
	END IF;
	IF TG_OP <> 'INSERT' THEN
		before_row := to_jsonb(OLD) - 'password_hash' - 'secret' - 'key_hash' - 'tenant_id';
	END IF;
	IF TG_OP <> 'DELETE' THEN
		after_row := to_jsonb(NEW) - 'password_hash' - 'secret' - 'key_hash' - 'tenant_id';
	END IF;
	IF TG_TABLE_NAME = 'tenants' THEN
		row_tenant := coalesce(NEW.id, OLD.id);
	ELSE
		row_tenant := coalesce((to_jsonb(NEW) ->> 'tenant_id')::uuid, (to_jsonb(OLD) ->> 'tenant_id')::uuid);
	END IF;
	resource_id := coalesce(to_jsonb(NEW) ->> TG_ARGV[1], to_jsonb(OLD) ->> TG_ARGV[1]);
	IF TG_ARGV[2] IS NOT NULL THEN
		resource_id := coalesce(to_jsonb(NEW) ->> TG_ARGV[2], to_jsonb(OLD) ->> TG_ARGV[2])
			|| '/' || resource_id;
	END IF;
	-- An UPDATE that changed nothing but bookkeeping is not an event.
	IF TG_OP = 'UPDATE' AND (before_row - 'version' - 'updated_at') = (after_row - 'version' - 'updated_at') THEN
		RETURN NULL;
	END IF;
	INSERT INTO audit_events (tenant_id, actor_key_id, request_id, resource_type, resource_id,
		action, before, after)
	VALUES (row_tenant, actor::uuid, nullif(current_setting('gwsync.request_id', true), ''),
		TG_ARGV[0], resource_id,
		coalesce(nullif(current_setting('gwsync.action', true), ''),
			CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END),
		before_row, after_row);
	RETURN NULL;
END $$;

CREATE TABLE audit_events (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	actor_key_id uuid,
	request_id text,
	resource_type text NOT NULL,
	resource_id text,
	action text NOT NULL,
	before jsonb,
	after jsonb,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id DESC);

CREATE TRIGGER tenants_audit AFTER INSERT OR UPDATE ON tenants
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('tenant', 'id');
CREATE TRIGGER api_keys_audit AFTER INSERT OR UPDATE OR DELETE ON api_keys
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('api_key', 'id');

CREATE TABLE integrations (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
	status text NOT NULL DEFAULT 'pending_authorization' CHECK (status IN
		('pending_authorization', 'active', 'reauthorization_required', 'deactivated')),
	group_management boolean NOT NULL DEFAULT false,
	default_domain text,
	import_filter text CHECK (char_length(import_filter) <= 2048),
	lockout_action text NOT NULL DEFAULT 'suspend' CHECK (lockout_action IN ('suspend', 'maintain')),
	password_expiry_action text NOT NULL DEFAULT 'suspend'
		CHECK (password_expiry_action IN ('suspend', 'maintain')),
	deletion_guard_max_count integer NOT NULL DEFAULT 25 CHECK (deletion_guard_max_count >= 0),
	deletion_guard_max_percent integer NOT NULL DEFAULT 10
		CHECK (deletion_guard_max_percent BETWEEN 0 AND 100),
	deleted_in_google_action text NOT NULL DEFAULT 'leave'
		CHECK (deleted_in_google_action IN ('leave', 'recreate')),
	provision_without_password boolean NOT NULL DEFAULT false,
	import_enabled boolean NOT NULL DEFAULT false,
	import_interval_minutes integer NOT NULL DEFAULT 60 CHECK (import_interval_minutes BETWEEN 15 AND 10080),
	import_mode text NOT NULL DEFAULT 'full' CHECK (import_mode IN ('full', 'updates_only')),
	google_customer_id text,
	google_primary_domain text,
	deactivated_at timestamptz,
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX integrations_name_ci ON integrations (tenant_id, lower(name));
CREATE INDEX integrations_tenant ON integrations (tenant_id, id);
CREATE TRIGGER integrations_audit AFTER INSERT OR UPDATE OR DELETE ON integrations
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('integration', 'id');

CREATE TABLE integration_domains (
	tenant_id uuid NOT NULL,
	integration_id uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	domain text NOT NULL CHECK (domain = lower(domain) AND char_length(domain) BETWEEN 1 AND 253),
	verified boolean,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (integration_id, domain)
);
CREATE TRIGGER integration_domains_audit AFTER INSERT OR UPDATE OR DELETE ON integration_domains
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('integration_domain', 'domain', 'integration_id');

CREATE TABLE attribute_rules (
	tenant_id uuid NOT NULL,
	integration_id uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	attribute text NOT NULL,
	direction text NOT NULL CHECK (direction IN ('import', 'export')),
	PRIMARY KEY (integration_id, attribute)
);
CREATE TRIGGER attribute_rules_audit AFTER INSERT OR UPDATE OR DELETE ON attribute_rules
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('attribute_rule', 'attribute', 'integration_id');

-- The platform's directory as far as gwsync needs it. Ids are the platform's.
CREATE TABLE directory_users (
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	id text NOT NULL,
	email text NOT NULL,
	first_name text NOT NULL DEFAULT '',
	last_name text NOT NULL DEFAULT '',
	state text NOT NULL DEFAULT 'staged' CHECK (state IN ('staged', 'active', 'suspended')),
	alternate_email text,
	manager_id text,
	cost_center text,
	department text,
	employee_type text,
	job_title text,
	employee_id text,
	company text,
	location text,
	addresses jsonb NOT NULL DEFAULT '[]',
	phones jsonb NOT NULL DEFAULT '[]',
	-- A Google-acceptable hash only (SHA-512 crypt, or a caller's crypt/SHA-1/MD5); never clear text.
	password_hash text,
	password_hash_function text CHECK (password_hash_function IN ('crypt', 'SHA-1', 'MD5')),
	password_set_at timestamptz,
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, manager_id) REFERENCES directory_users (tenant_id, id) ON DELETE SET NULL (manager_id)
);
CREATE UNIQUE INDEX directory_users_email ON directory_users (tenant_id, lower(email));
CREATE INDEX directory_users_state ON directory_users (tenant_id, state, id);
CREATE TRIGGER directory_users_audit AFTER INSERT OR UPDATE OR DELETE ON directory_users
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('user', 'id');

CREATE TABLE directory_groups (
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	id text NOT NULL,
	name text NOT NULL,
	description text NOT NULL DEFAULT '',
	email text,
	version bigint NOT NULL DEFAULT 1,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX directory_groups_email ON directory_groups (tenant_id, lower(email)) WHERE email IS NOT NULL;
CREATE TRIGGER directory_groups_audit AFTER INSERT OR UPDATE OR DELETE ON directory_groups
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('group', 'id');

CREATE TABLE group_members (
	tenant_id uuid NOT NULL,
	group_id text NOT NULL,
	user_id text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, group_id, user_id),
	FOREIGN KEY (tenant_id, group_id) REFERENCES directory_groups (tenant_id, id) ON DELETE CASCADE,
	FOREIGN KEY (tenant_id, user_id) REFERENCES directory_users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members (tenant_id, user_id);
CREATE TRIGGER group_members_audit AFTER INSERT OR DELETE ON group_members
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('group_member', 'user_id', 'group_id');

CREATE TABLE user_bindings (
	tenant_id uuid NOT NULL,
	integration_id uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	user_id text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (integration_id, user_id),
	FOREIGN KEY (tenant_id, user_id) REFERENCES directory_users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_bindings_user ON user_bindings (tenant_id, user_id);
CREATE TRIGGER user_bindings_audit AFTER INSERT OR DELETE ON user_bindings
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('user_binding', 'user_id', 'integration_id');

CREATE TABLE group_bindings (
	tenant_id uuid NOT NULL,
	integration_id uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	group_id text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (integration_id, group_id),
	FOREIGN KEY (tenant_id, group_id) REFERENCES directory_groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_bindings_group ON group_bindings (tenant_id, group_id);
CREATE TRIGGER group_bindings_audit AFTER INSERT OR DELETE ON group_bindings
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('group_binding', 'group_id', 'integration_id');

-- The Google object behind a local user, per integration; written by the sync engine.
CREATE TABLE user_links (
	tenant_id uuid NOT NULL,
	integration_id uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	user_id text NOT NULL,
	google_id text,
	primary_email text,
	etag text,
	written_hash text,
	status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'linked', 'provisioned',
		'synced', 'failed', 'conflict', 'skipped', 'suspended', 'deleted_in_google')),
	last_error_reason text,
	last_error_message text,
	last_synced_at timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (integration_id, user_id)
);
CREATE UNIQUE INDEX user_links_google ON user_links (integration_id, google_id) WHERE google_id IS NOT NULL;

CREATE TABLE group_links (
	tenant_id uuid NOT NULL,
	integration_id uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	group_id text NOT NULL,
	google_id text,
	email text,
	etag text,
	written_hash text,
	status text NOT NULL DEFAULT 'pending',
	last_error_reason text,
	last_error_message text,
	last_synced_at timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (integration_id, group_id)
);

-- Idempotency-Key replay store: same key and body within 24 h → the same answer.
CREATE TABLE idempotency_keys (
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	key text NOT NULL,
	request_hash text NOT NULL,
	status integer, -- NULL while the first request is still running
	response_body text,
	location text,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, key)
);
