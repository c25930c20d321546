-- The user import engine (issue 14): the import guard, and matching Google's addresses against
-- emails rewritten to the default domain without reading every directory user.

-- An import that would create more users than this waits in awaiting_approval (0 = off).
ALTER TABLE integrations
	ADD COLUMN import_guard_max_count integer NOT NULL DEFAULT 1000
		CHECK (import_guard_max_count BETWEEN 0 AND 1000000);

-- The export's matching rule rewrites an email of a domain that is not allowed to
-- local-part@default_domain; the import finds those users by local part.
CREATE INDEX directory_users_local_part ON directory_users (tenant_id, lower(split_part(email, '@', 1)));

-- The import guard is no export setting: changing it alone queues no export reconcile.
DROP TRIGGER integrations_export ON integrations;
CREATE TRIGGER integrations_export AFTER UPDATE ON integrations FOR EACH ROW
	WHEN ((to_jsonb(OLD) - ARRAY['import_guard_max_count', 'version', 'updated_at'])
		IS DISTINCT FROM (to_jsonb(NEW) - ARRAY['import_guard_max_count', 'version', 'updated_at']))
	EXECUTE FUNCTION gwsync_export_on_change();
