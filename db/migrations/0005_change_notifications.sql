-- Tells every API replica, at commit, which tenant's configuration or directory data changed, so
-- it drops what its read cache holds for that tenant (api/read_cache.h). Tables whose rows feed
-- the cached GET routes carry the trigger; pg_notify folds repeats within one transaction.
CREATE FUNCTION gwsync_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	changed_tenant uuid;
BEGIN
	IF TG_OP = 'DELETE' THEN
		changed_tenant := OLD.tenant_id;
	ELSE
		changed_tenant := NEW.tenant_id;
	END IF;
	PERFORM pg_notify('gwsync_changes', changed_tenant::text);
	RETURN NULL;
END $$;

CREATE TRIGGER integrations_changed AFTER INSERT OR UPDATE OR DELETE ON integrations
	FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change();
CREATE TRIGGER integration_domains_changed AFTER INSERT OR UPDATE OR DELETE ON integration_domains
	FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change();
CREATE TRIGGER attribute_rules_changed AFTER INSERT OR UPDATE OR DELETE ON attribute_rules
	FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change();
CREATE TRIGGER directory_users_changed AFTER INSERT OR UPDATE OR DELETE ON directory_users
	FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change();
CREATE TRIGGER directory_groups_changed AFTER INSERT OR UPDATE OR DELETE ON directory_groups
	FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change();
CREATE TRIGGER group_members_changed AFTER INSERT OR UPDATE OR DELETE ON group_members
	FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change();
CREATE TRIGGER user_bindings_changed AFTER INSERT OR UPDATE OR DELETE ON user_bindings
	FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change();
CREATE TRIGGER group_bindings_changed AFTER INSERT OR UPDATE OR DELETE ON group_bindings
	FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change();
CREATE TRIGGER user_links_changed AFTER INSERT OR UPDATE OR DELETE ON user_links
	FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change();
CREATE TRIGGER group_links_changed AFTER INSERT OR UPDATE OR DELETE ON group_links
	FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change();
