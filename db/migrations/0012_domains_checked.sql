-- When the integration's domains were last checked with Google (domains.list, by an authorization,
-- verify, the API's domain check or a sync run's refresh). A run asks Google again only when this
-- is older than GWSYNC_DOMAINS_MAX_AGE_MS, so an event's export does not spend a call per job and a
-- full reconcile right after another run reuses the flags. Its own table, not a column of
-- integrations: a check is bookkeeping, neither audited nor a settings change that queues the
-- export's reconcile (the triggers of integrations fire on any column).
CREATE TABLE integration_domains_checks (
	integration_id uuid PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
	tenant_id uuid NOT NULL,
	domains_checked_at timestamptz NOT NULL
);
