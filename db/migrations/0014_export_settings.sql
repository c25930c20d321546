-- Which columns of an integration are export settings, in one place. Before, the trigger's WHEN
-- left out only the import guard and the function only the other import settings, so a change of
-- the guard together with the filter or the schedule passed both and queued a full export
-- reconcile, though no import setting is an export setting. Besides the import settings
-- (filter, schedule, guard) and their bookkeeping (last and next run), the name, status, version,
-- times and Google's ids are not settings of the export either. The trigger below calls a function
-- of its own: the integrations branch of gwsync_export_on_change (0007) is no longer reached.
CREATE FUNCTION gwsync_export_settings(i integrations) RETURNS jsonb LANGUAGE sql STABLE AS $$
	SELECT to_jsonb(i) - ARRAY['name', 'status', 'version', 'created_at', 'updated_at',
		'deactivated_at', 'google_customer_id', 'google_primary_domain', 'import_filter',
		'import_enabled', 'import_interval_minutes', 'import_mode', 'import_guard_max_count',
		'import_last_run_at', 'import_next_run_at']
$$;

-- A change of the export settings through the API (with an actor) queues one full reconcile.
CREATE FUNCTION gwsync_export_on_settings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce(current_setting('gwsync.actor_key_id', true), '') <> '' THEN
		PERFORM gwsync_export_reconcile(NEW.tenant_id, NEW.id);
	END IF;
	RETURN NULL;
END $$;

DROP TRIGGER integrations_export ON integrations;
CREATE TRIGGER integrations_export AFTER UPDATE ON integrations FOR EACH ROW
	WHEN (gwsync_export_settings(OLD) IS DISTINCT FROM gwsync_export_settings(NEW))
	EXECUTE FUNCTION gwsync_export_on_settings();
