-- Group management: what each group link remembers, the membership mode of an integration, and
-- the sync_groups work queued by REST changes and by user links that become usable.

-- Links: how they came to be, the member counts of the last run, and the statuses of group
-- management (unmanaged: the group left the scope; the Google group is kept, never deleted).
ALTER TABLE group_links
	ADD COLUMN origin text CHECK (origin IN ('linked', 'provisioned')),
	ADD COLUMN wanted_members integer CHECK (wanted_members >= 0),
	ADD COLUMN actual_members integer CHECK (actual_members >= 0),
	ADD COLUMN not_managed_members integer CHECK (not_managed_members >= 0),
	ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
	ADD CONSTRAINT group_links_status_check CHECK (status IN ('pending', 'creating', 'synced',
		'failed', 'conflict', 'skipped', 'unmanaged', 'deleted_in_google', 'delete_requested',
		'deleted'));
CREATE UNIQUE INDEX group_links_google ON group_links (integration_id, google_id)
	WHERE google_id IS NOT NULL AND status NOT IN ('unmanaged', 'delete_requested', 'deleted');
-- The one change of a link through the API (POST .../delete-in-google) is audited; workers write
-- without an actor and are not.
CREATE TRIGGER group_links_audit AFTER UPDATE ON group_links
	FOR EACH ROW EXECUTE FUNCTION gwsync_audit('group_link', 'group_id', 'integration_id');

-- additive: gwsync adds members and removes only the users it links; authoritative: the
-- directory's membership wins over other USER and EXTERNAL entries (never owners or managers).
ALTER TABLE integrations ADD COLUMN group_membership text NOT NULL DEFAULT 'additive'
	CHECK (group_membership IN ('additive', 'authoritative'));

-- Adds group_ids to the integration's queued targeted sync_groups job (or queues one), when the
-- integration is active and manages groups. Same coalescing key as directory events.
CREATE FUNCTION gwsync_groups_queue(tenant uuid, integration uuid, group_ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	ids jsonb;
BEGIN
	IF group_ids IS NULL OR cardinality(group_ids) = 0 THEN
		RETURN;
	END IF;
	PERFORM 1 FROM integrations WHERE id = integration AND status = 'active' AND group_management;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT jsonb_agg(g ORDER BY g) INTO ids FROM (SELECT DISTINCT unnest(group_ids) AS g) d;
	INSERT INTO jobs (tenant_id, integration_id, type, parameters, trigger, coalesce_key,
		requested_by)
	VALUES (tenant, integration, 'sync_groups', jsonb_build_object('group_ids', ids),
		CASE WHEN coalesce(current_setting('gwsync.actor_key_id', true), '') = ''
			THEN 'directory_event' ELSE 'api' END,
		'directory_groups', nullif(current_setting('gwsync.actor_key_id', true), '')::uuid)
	ON CONFLICT (integration_id, coalesce_key) WHERE status = 'queued' AND coalesce_key IS NOT NULL
	DO UPDATE SET parameters = jsonb_set(jobs.parameters, '{group_ids}',
			coalesce(jobs.parameters -> 'group_ids', '[]') || (SELECT coalesce(jsonb_agg(n), '[]')
				FROM jsonb_array_elements_text(ids) n
				WHERE NOT coalesce(jobs.parameters -> 'group_ids', '[]') ? n)),
		updated_at = now()
	WHERE EXISTS (SELECT 1 FROM jsonb_array_elements_text(ids) n
		WHERE NOT coalesce(jobs.parameters -> 'group_ids', '[]') ? n);
END $$;

-- REST changes (transactions tagged with gwsync.actor_key_id) of groups, memberships and group
-- bindings queue sync_groups for the group where it is bound (directory events queue their own
-- work in store_events.c). The group is queued after its members' export (trigger order by name:
-- *_export before *_groups), so new members are linked first.
CREATE FUNCTION gwsync_groups_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
	IF TG_TABLE_NAME = 'directory_groups' THEN
		IF (OLD.name, OLD.description, OLD.email) IS NOT DISTINCT FROM
		   (NEW.name, NEW.description, NEW.email) THEN
			RETURN NULL;
		END IF;
		PERFORM gwsync_groups_queue(NEW.tenant_id, gb.integration_id, ARRAY[NEW.id])
		FROM group_bindings gb WHERE gb.tenant_id = NEW.tenant_id AND gb.group_id = NEW.id;
	ELSIF TG_TABLE_NAME = 'group_members' THEN
		PERFORM gwsync_groups_queue(r.tenant_id, gb.integration_id, ARRAY[r.group_id])
		FROM group_bindings gb WHERE gb.tenant_id = r.tenant_id AND gb.group_id = r.group_id;
	ELSIF TG_TABLE_NAME = 'group_bindings' THEN
		PERFORM gwsync_groups_queue(r.tenant_id, r.integration_id, ARRAY[r.group_id]);
	END IF;
	RETURN NULL;
END $$;

-- A deleted group takes its bindings with it by cascade: queue it (its link becomes unmanaged)
-- while they still exist.
CREATE FUNCTION gwsync_groups_on_group_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce(current_setting('gwsync.actor_key_id', true), '') <> '' THEN
		PERFORM gwsync_groups_queue(OLD.tenant_id, gb.integration_id, ARRAY[OLD.id])
		FROM group_bindings gb WHERE gb.tenant_id = OLD.tenant_id AND gb.group_id = OLD.id;
	END IF;
	RETURN OLD;
END $$;

-- A user link that becomes usable (a Google id, status synced or suspended), by the export or an
-- import, queues sync_groups for the user's bound groups: a new member reaches Google without
-- waiting for the next full run.
CREATE FUNCTION gwsync_groups_on_user_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.google_id IS NULL OR NEW.status NOT IN ('synced', 'suspended') THEN
		RETURN NULL;
	END IF;
	IF TG_OP = 'UPDATE' AND OLD.google_id IS NOT DISTINCT FROM NEW.google_id
	   AND OLD.status IN ('synced', 'suspended') THEN
		RETURN NULL;
	END IF;
	PERFORM gwsync_groups_queue(NEW.tenant_id, NEW.integration_id, ARRAY(SELECT gm.group_id
		FROM group_members gm JOIN group_bindings gb ON gb.tenant_id = gm.tenant_id
			AND gb.group_id = gm.group_id AND gb.integration_id = NEW.integration_id
		WHERE gm.tenant_id = NEW.tenant_id AND gm.user_id = NEW.user_id));
	RETURN NULL;
END $$;

-- Turning group management on, changing the membership mode, or an integration becoming active
-- through the API queues one sync_groups over every bound group (once while one is queued).
CREATE FUNCTION gwsync_groups_on_settings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce(current_setting('gwsync.actor_key_id', true), '') = '' THEN
		RETURN NULL;
	END IF;
	IF NEW.status = 'active' AND NEW.group_management AND (NOT OLD.group_management
	   OR OLD.group_membership IS DISTINCT FROM NEW.group_membership
	   OR OLD.status <> 'active') THEN
		INSERT INTO jobs (tenant_id, integration_id, type, parameters, trigger, coalesce_key,
			requested_by)
		VALUES (NEW.tenant_id, NEW.id, 'sync_groups', '{}', 'api', 'groups_reconcile',
			nullif(current_setting('gwsync.actor_key_id', true), '')::uuid)
		ON CONFLICT (integration_id, coalesce_key) WHERE status = 'queued'
			AND coalesce_key IS NOT NULL
		DO NOTHING;
	END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER integrations_groups AFTER UPDATE ON integrations
	FOR EACH ROW EXECUTE FUNCTION gwsync_groups_on_settings();
CREATE TRIGGER directory_groups_groups_delete BEFORE DELETE ON directory_groups
	FOR EACH ROW EXECUTE FUNCTION gwsync_groups_on_group_delete();
CREATE TRIGGER directory_groups_groups AFTER UPDATE ON directory_groups
	FOR EACH ROW EXECUTE FUNCTION gwsync_groups_on_change();
CREATE TRIGGER group_members_groups AFTER INSERT OR DELETE ON group_members
	FOR EACH ROW EXECUTE FUNCTION gwsync_groups_on_change();
CREATE TRIGGER group_bindings_groups AFTER INSERT OR DELETE ON group_bindings
	FOR EACH ROW EXECUTE FUNCTION gwsync_groups_on_change();
CREATE TRIGGER user_links_groups AFTER INSERT OR UPDATE OF google_id, status ON user_links
	FOR EACH ROW EXECUTE FUNCTION gwsync_groups_on_user_link();
