-- The user export engine's state: what each link remembers of the last write, the plan a job
-- made, the deletion guard's window, and the export work REST changes queue by trigger.

-- Links: how they came to be, a SHA-256 per Google field last written, a digest of the password
-- hash last sent, and two more statuses (a create in flight; released by a deactivation).
ALTER TABLE user_links
	ADD COLUMN origin text CHECK (origin IN ('linked', 'provisioned', 'imported')),
	ADD COLUMN field_hashes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(field_hashes) = 'object'),
	ADD COLUMN password_digest text,
	DROP CONSTRAINT user_links_status_check,
	ADD CONSTRAINT user_links_status_check CHECK (status IN ('pending', 'creating', 'linked',
		'provisioned', 'synced', 'failed', 'conflict', 'skipped', 'suspended',
		'deleted_in_google', 'released'));

-- A job's plan (dry runs, and runs stopped by the deletion guard): never a password, only the
-- field name "password" with "changed": true.
CREATE TABLE job_plan_entries (
	job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	seq bigint NOT NULL CHECK (seq > 0),
	tenant_id uuid NOT NULL,
	op text NOT NULL CHECK (char_length(op) BETWEEN 1 AND 64),
	user_id text NOT NULL,
	google_id text,
	primary_email text,
	reason text,
	changes jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(changes) = 'array'),
	user_version bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (job_id, seq)
);
ALTER TABLE jobs ADD COLUMN plan_summary jsonb
	CHECK (plan_summary IS NULL OR jsonb_typeof(plan_summary) = 'object');

-- Guarded writes (suspensions, renames caused by a domain change) applied per integration, for
-- the deletion guard's sliding window across jobs. Rows older than 7 days are pruned when new
-- ones are recorded, so a window longer than that undercounts.
CREATE TABLE deletion_guard_writes (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant_id uuid NOT NULL,
	integration_id uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	applied_at timestamptz NOT NULL DEFAULT now(),
	count integer NOT NULL CHECK (count > 0)
);
CREATE INDEX deletion_guard_writes_window ON deletion_guard_writes (integration_id, applied_at);

-- ---- export work queued by REST changes ----
--
-- Changes made through the API (transactions tagged with gwsync.actor_key_id, as for the audit
-- trigger) queue export work here, in their own transaction and through the same coalescing key
-- as directory events (store_events.c, which queues its work itself: its transactions carry no
-- actor). Workers and imports write without an actor and queue nothing.

-- Adds user_ids to the integration's queued targeted export job (or queues one), when the
-- integration is active. One statement for any number of users, so binding a group of 10,000
-- members does not rewrite the job's parameters 10,000 times.
CREATE FUNCTION gwsync_export_queue(tenant uuid, integration uuid, user_ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	ids jsonb;
BEGIN
	IF user_ids IS NULL OR cardinality(user_ids) = 0 THEN
		RETURN;
	END IF;
	PERFORM 1 FROM integrations WHERE id = integration AND status = 'active';
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT jsonb_agg(u ORDER BY u) INTO ids FROM (SELECT DISTINCT unnest(user_ids) AS u) d;
	INSERT INTO jobs (tenant_id, integration_id, type, parameters, trigger, coalesce_key,
		requested_by)
	VALUES (tenant, integration, 'export_users', jsonb_build_object('user_ids', ids), 'api',
		'directory_export', nullif(current_setting('gwsync.actor_key_id', true), '')::uuid)
	ON CONFLICT (integration_id, coalesce_key) WHERE status = 'queued' AND coalesce_key IS NOT NULL
	DO UPDATE SET parameters = jsonb_set(jobs.parameters, '{user_ids}',
			coalesce(jobs.parameters -> 'user_ids', '[]') || (SELECT coalesce(jsonb_agg(n), '[]')
				FROM jsonb_array_elements_text(ids) n
				WHERE NOT coalesce(jobs.parameters -> 'user_ids', '[]') ? n)),
		updated_at = now()
	WHERE EXISTS (SELECT 1 FROM jsonb_array_elements_text(ids) n
		WHERE NOT coalesce(jobs.parameters -> 'user_ids', '[]') ? n);
END $$;

-- Queues a full reconcile (export_users without user_ids) of an active integration, once while
-- one is still queued.
CREATE FUNCTION gwsync_export_reconcile(tenant uuid, integration uuid) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO jobs (tenant_id, integration_id, type, parameters, trigger, coalesce_key,
		requested_by)
	SELECT tenant, integration, 'export_users', '{}', 'api', 'export_reconcile',
		nullif(current_setting('gwsync.actor_key_id', true), '')::uuid
	FROM integrations WHERE id = integration AND status = 'active'
	ON CONFLICT (integration_id, coalesce_key) WHERE status = 'queued' AND coalesce_key IS NOT NULL
	DO NOTHING;
$$;

CREATE FUNCTION gwsync_export_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	IF coalesce(current_setting('gwsync.actor_key_id', true), '') = '' THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'DELETE' THEN
		r := OLD;
	ELSE
		r := NEW;
	END IF;
	IF TG_TABLE_NAME = 'directory_users' THEN
		-- Only updates: a new user is bound by a later request; a deleted one takes its
		-- bindings and memberships with it, and their triggers queue the work.
		IF (to_jsonb(OLD) - 'version' - 'updated_at') = (to_jsonb(NEW) - 'version' - 'updated_at') THEN
			RETURN NULL;
		END IF;
		PERFORM gwsync_export_queue(NEW.tenant_id, b.integration_id, ARRAY[NEW.id])
		FROM (SELECT integration_id FROM user_bindings
			WHERE tenant_id = NEW.tenant_id AND user_id = NEW.id
			UNION SELECT gb.integration_id FROM group_members gm JOIN group_bindings gb
				ON gb.tenant_id = gm.tenant_id AND gb.group_id = gm.group_id
			WHERE gm.tenant_id = NEW.tenant_id AND gm.user_id = NEW.id) b;
	ELSIF TG_TABLE_NAME = 'user_bindings' THEN
		PERFORM gwsync_export_queue(r.tenant_id, r.integration_id, ARRAY[r.user_id]);
	ELSIF TG_TABLE_NAME = 'group_bindings' THEN
		PERFORM gwsync_export_queue(r.tenant_id, r.integration_id, ARRAY(SELECT user_id
			FROM group_members WHERE tenant_id = r.tenant_id AND group_id = r.group_id));
	ELSIF TG_TABLE_NAME = 'group_members' THEN
		PERFORM gwsync_export_queue(r.tenant_id, gb.integration_id, ARRAY[r.user_id])
		FROM group_bindings gb WHERE gb.tenant_id = r.tenant_id AND gb.group_id = r.group_id;
	ELSIF TG_TABLE_NAME IN ('attribute_rules', 'integration_domains') THEN
		PERFORM gwsync_export_reconcile(r.tenant_id, r.integration_id);
	ELSIF TG_TABLE_NAME = 'integrations' THEN
		-- Settings only: not the name, status, version, import schedule or Google's ids.
		IF (to_jsonb(OLD) - ARRAY['name', 'status', 'version', 'created_at', 'updated_at',
			'deactivated_at', 'import_filter', 'import_enabled', 'import_interval_minutes',
			'import_mode', 'google_customer_id', 'google_primary_domain'])
		   IS DISTINCT FROM (to_jsonb(NEW) - ARRAY['name', 'status', 'version', 'created_at',
			'updated_at', 'deactivated_at', 'import_filter', 'import_enabled',
			'import_interval_minutes', 'import_mode', 'google_customer_id',
			'google_primary_domain']) THEN
			PERFORM gwsync_export_reconcile(NEW.tenant_id, NEW.id);
		END IF;
	END IF;
	RETURN NULL;
END $$;

-- A deleted group takes its members and bindings with it by cascade, and the triggers of rows
-- deleted by a cascade fire only after both are gone: queue its members before.
CREATE FUNCTION gwsync_export_on_group_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce(current_setting('gwsync.actor_key_id', true), '') <> '' THEN
		PERFORM gwsync_export_queue(OLD.tenant_id, gb.integration_id, ARRAY(SELECT user_id
			FROM group_members WHERE tenant_id = OLD.tenant_id AND group_id = OLD.id))
		FROM group_bindings gb WHERE gb.tenant_id = OLD.tenant_id AND gb.group_id = OLD.id;
	END IF;
	RETURN OLD;
END $$;

CREATE TRIGGER directory_groups_export BEFORE DELETE ON directory_groups
	FOR EACH ROW EXECUTE FUNCTION gwsync_export_on_group_delete();
CREATE TRIGGER directory_users_export AFTER UPDATE ON directory_users
	FOR EACH ROW EXECUTE FUNCTION gwsync_export_on_change();
CREATE TRIGGER user_bindings_export AFTER INSERT OR DELETE ON user_bindings
	FOR EACH ROW EXECUTE FUNCTION gwsync_export_on_change();
CREATE TRIGGER group_bindings_export AFTER INSERT OR DELETE ON group_bindings
	FOR EACH ROW EXECUTE FUNCTION gwsync_export_on_change();
CREATE TRIGGER group_members_export AFTER INSERT OR DELETE ON group_members
	FOR EACH ROW EXECUTE FUNCTION gwsync_export_on_change();
CREATE TRIGGER attribute_rules_export AFTER INSERT OR UPDATE OR DELETE ON attribute_rules
	FOR EACH ROW EXECUTE FUNCTION gwsync_export_on_change();
CREATE TRIGGER integration_domains_export AFTER INSERT OR DELETE ON integration_domains
	FOR EACH ROW EXECUTE FUNCTION gwsync_export_on_change();
CREATE TRIGGER integrations_export AFTER UPDATE ON integrations
	FOR EACH ROW EXECUTE FUNCTION gwsync_export_on_change();
