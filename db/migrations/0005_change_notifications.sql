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

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['integrations', 'integration_domains', 'attribute_rules',
		'directory_users', 'directory_groups', 'group_members', 'user_bindings', 'group_bindings',
		'user_links', 'group_links'] LOOP
		EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I '
			'FOR EACH ROW EXECUTE FUNCTION gwsync_notify_change()', t || '_changed', t);
	END LOOP;
END $$;
