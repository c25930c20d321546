-- Bulk writes without an actor (an import writes a thousand users, bindings, links and events per
-- transaction) paid for row-level triggers that had nothing to do: a call per row of the audit
-- and export triggers only to find no actor, a notification per row folded at commit anyway, and
-- a group lookup per new link. Same effects, cheaper firing:
--
-- 1. The audit and export triggers of directory users and user bindings test the actor in their
--    WHEN clause: a row written without one queues no trigger event at all.
-- 2. The change notifications of directory users, user bindings and user links are sent once per
--    statement and tenant (transition tables; one trigger per event, as PostgreSQL requires).
-- 3. New user links queue their bound groups once per statement and integration; an update of a
--    link still fires per row, and only when the link becomes usable (WHEN clause).

DROP TRIGGER directory_users_audit ON directory_users;
CREATE TRIGGER directory_users_audit AFTER INSERT OR UPDATE OR DELETE ON directory_users
	FOR EACH ROW WHEN (coalesce(current_setting('gwsync.actor_key_id', true), '') <> '')
	EXECUTE FUNCTION gwsync_audit('user', 'id');
DROP TRIGGER user_bindings_audit ON user_bindings;
CREATE TRIGGER user_bindings_audit AFTER INSERT OR DELETE ON user_bindings
	FOR EACH ROW WHEN (coalesce(current_setting('gwsync.actor_key_id', true), '') <> '')
	EXECUTE FUNCTION gwsync_audit('user_binding', 'user_id', 'integration_id');
DROP TRIGGER directory_users_export ON directory_users;
CREATE TRIGGER directory_users_export AFTER UPDATE ON directory_users
	FOR EACH ROW WHEN (coalesce(current_setting('gwsync.actor_key_id', true), '') <> '')
	EXECUTE FUNCTION gwsync_export_on_change();
DROP TRIGGER user_bindings_export ON user_bindings;
CREATE TRIGGER user_bindings_export AFTER INSERT OR DELETE ON user_bindings
	FOR EACH ROW WHEN (coalesce(current_setting('gwsync.actor_key_id', true), '') <> '')
	EXECUTE FUNCTION gwsync_export_on_change();

-- gwsync_notify_change() once per statement: each tenant of the rows written (changed_rows).
CREATE FUNCTION gwsync_notify_change_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('gwsync_changes', t::text)
		FROM (SELECT DISTINCT tenant_id AS t FROM changed_rows) d;
	RETURN NULL;
END $$;

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['directory_users', 'user_bindings', 'user_links'] LOOP
		EXECUTE format('DROP TRIGGER %I ON %I', t || '_changed', t);
		EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS '
			'changed_rows FOR EACH STATEMENT EXECUTE FUNCTION gwsync_notify_change_rows()',
			t || '_changed_insert', t);
		EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS '
			'changed_rows FOR EACH STATEMENT EXECUTE FUNCTION gwsync_notify_change_rows()',
			t || '_changed_update', t);
		EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS '
			'changed_rows FOR EACH STATEMENT EXECUTE FUNCTION gwsync_notify_change_rows()',
			t || '_changed_delete', t);
	END LOOP;
END $$;

-- gwsync_groups_on_user_link() for the links a statement inserted (new_links): the bound groups
-- of their users, one gwsync_groups_queue() per integration.
CREATE FUNCTION gwsync_groups_on_user_links_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM gwsync_groups_queue(n.tenant_id, n.integration_id, array_agg(DISTINCT gm.group_id))
		FROM new_links n
		JOIN group_members gm ON gm.tenant_id = n.tenant_id AND gm.user_id = n.user_id
		JOIN group_bindings gb ON gb.tenant_id = gm.tenant_id AND gb.group_id = gm.group_id
			AND gb.integration_id = n.integration_id
		WHERE n.google_id IS NOT NULL AND n.status IN ('synced', 'suspended')
		GROUP BY n.tenant_id, n.integration_id;
	RETURN NULL;
END $$;

DROP TRIGGER user_links_groups ON user_links;
CREATE TRIGGER user_links_groups_insert AFTER INSERT ON user_links REFERENCING NEW TABLE AS
	new_links FOR EACH STATEMENT EXECUTE FUNCTION gwsync_groups_on_user_links_insert();
CREATE TRIGGER user_links_groups_update AFTER UPDATE OF google_id, status ON user_links
	FOR EACH ROW WHEN (NEW.google_id IS NOT NULL AND NEW.status IN ('synced', 'suspended')
		AND (OLD.google_id IS DISTINCT FROM NEW.google_id
			OR OLD.status NOT IN ('synced', 'suspended')))
	EXECUTE FUNCTION gwsync_groups_on_user_link();
