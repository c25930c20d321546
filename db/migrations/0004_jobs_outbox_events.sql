-- The job pipeline: jobs and their per-object outcomes, the transactional outbox, the ids of
-- directory events already applied. Triggers keep the outbox in step with the jobs, so every
-- path that queues or finishes a job (API, worker, scheduler, directory events) announces it in
-- its own transaction.

-- What the directory says about a user beyond its state (events user.locked / password_expired).
ALTER TABLE directory_users ADD COLUMN locked_at timestamptz;
ALTER TABLE directory_users ADD COLUMN password_expired_at timestamptz;

CREATE TABLE jobs (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE, -- creation order, for paging
	tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	integration_id uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
	type text NOT NULL CHECK (type IN ('export_users', 'import_users', 'sync_groups', 'full_sync',
		'verify_authorization', 'test_sleep')),
	parameters jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),
	dry_run boolean NOT NULL DEFAULT false,
	status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded',
		'partially_failed', 'failed', 'cancelled', 'awaiting_approval')),
	trigger text NOT NULL DEFAULT 'api' CHECK (trigger IN ('api', 'schedule', 'directory_event')),
	-- Set on jobs that directory events may extend while they wait (one per integration and key).
	coalesce_key text,
	cancel_requested boolean NOT NULL DEFAULT false,
	attempts integer NOT NULL DEFAULT 0,
	lease_owner text,
	lease_expires_at timestamptz,
	progress_done integer NOT NULL DEFAULT 0,
	progress_total integer,
	created_count integer NOT NULL DEFAULT 0,
	updated_count integer NOT NULL DEFAULT 0,
	unchanged_count integer NOT NULL DEFAULT 0,
	skipped_count integer NOT NULL DEFAULT 0,
	failed_count integer NOT NULL DEFAULT 0,
	error text,
	requested_by uuid, -- the API key; NULL for the scheduler and directory events
	announced_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	started_at timestamptz,
	finished_at timestamptz
);
-- At most one running job per integration: a second claim fails on this index.
CREATE UNIQUE INDEX jobs_one_running ON jobs (integration_id) WHERE status = 'running';
-- One queued job per integration and coalescing key: directory events extend it.
CREATE UNIQUE INDEX jobs_coalesce ON jobs (integration_id, coalesce_key)
	WHERE status = 'queued' AND coalesce_key IS NOT NULL;
CREATE INDEX jobs_integration ON jobs (tenant_id, integration_id, seq DESC);
CREATE INDEX jobs_queued ON jobs (integration_id, seq) WHERE status = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'running';

CREATE TABLE job_items (
	job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	seq bigint GENERATED ALWAYS AS IDENTITY,
	tenant_id uuid NOT NULL,
	object_type text NOT NULL,
	object_id text NOT NULL,
	outcome text NOT NULL CHECK (outcome IN ('created', 'updated', 'unchanged', 'skipped', 'failed')),
	detail jsonb,
	error_reason text,
	error_message text,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (job_id, seq)
);
CREATE INDEX job_items_outcome ON job_items (job_id, outcome, seq);

-- Messages waiting for the relay. stream names a configured topic (jobs, events, dlq).
CREATE TABLE outbox (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	stream text NOT NULL CHECK (stream IN ('jobs', 'events', 'dlq')),
	key text NOT NULL,
	payload bytea NOT NULL,
	headers jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wakes the relays at commit.
CREATE FUNCTION gwsync_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('gwsync_outbox', '');
	RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
	FOR EACH STATEMENT EXECUTE FUNCTION gwsync_outbox_notify();

-- Directory events already applied, by CloudEvents source and id.
CREATE TABLE processed_events (
	source text NOT NULL,
	id text NOT NULL,
	processed_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (source, id)
);
CREATE INDEX processed_events_age ON processed_events (processed_at);

-- A CloudEvent (structured JSON) that gwsync publishes on the events stream.
CREATE FUNCTION gwsync_cloudevent(ev_type text, tenant uuid, integration uuid, subject text,
	data jsonb) RETURNS bytea LANGUAGE sql AS $$
	SELECT convert_to(jsonb_build_object(
		'specversion', '1.0',
		'id', gen_random_uuid()::text,
		'source', 'gwsync',
		'type', ev_type,
		'time', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
		'subject', subject,
		'datacontenttype', 'application/json',
		'tenant', tenant::text,
		'integration', integration::text,
		'data', data)::text, 'UTF8')
$$;

-- "Job J of integration I is ready": the only thing a jobs message says.
CREATE FUNCTION gwsync_job_announce(job uuid, integration uuid, tenant uuid) RETURNS void
LANGUAGE sql AS $$
	INSERT INTO outbox (stream, key, payload)
	VALUES ('jobs', integration::text, convert_to(jsonb_build_object('job_id', job::text,
		'integration_id', integration::text, 'tenant_id', tenant::text)::text, 'UTF8'));
	UPDATE jobs SET announced_at = now() WHERE id = job;
$$;

CREATE FUNCTION gwsync_jobs_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	next_job record;
BEGIN
	IF NEW.status = 'queued' AND (TG_OP = 'INSERT' OR OLD.status <> 'queued') THEN
		PERFORM gwsync_job_announce(NEW.id, NEW.integration_id, NEW.tenant_id);
	END IF;
	IF TG_OP = 'UPDATE' AND NEW.status IN ('succeeded', 'partially_failed', 'failed', 'cancelled')
	   AND OLD.status NOT IN ('succeeded', 'partially_failed', 'failed', 'cancelled') THEN
		INSERT INTO outbox (stream, key, payload)
		VALUES ('events', NEW.integration_id::text, gwsync_cloudevent('gws.job.finished',
			NEW.tenant_id, NEW.integration_id, NEW.id::text, jsonb_build_object(
				'job_id', NEW.id, 'integration_id', NEW.integration_id,
				'type', NEW.type, 'status', NEW.status, 'dry_run', NEW.dry_run,
				'attempts', NEW.attempts, 'error', NEW.error,
				'counts', jsonb_build_object('created', NEW.created_count,
					'updated', NEW.updated_count, 'unchanged', NEW.unchanged_count,
					'skipped', NEW.skipped_count, 'failed', NEW.failed_count),
				'created_at', NEW.created_at, 'finished_at', NEW.finished_at)));
	END IF;
	-- A job left the integration's running slot: the oldest queued job there may start now.
	IF TG_OP = 'UPDATE' AND OLD.status = 'running' AND NEW.status <> 'running' THEN
		SELECT id INTO next_job FROM jobs WHERE integration_id = NEW.integration_id
			AND status = 'queued' AND id <> NEW.id ORDER BY seq LIMIT 1;
		IF FOUND THEN
			PERFORM gwsync_job_announce(next_job.id, NEW.integration_id, NEW.tenant_id);
		END IF;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER jobs_outbox AFTER INSERT OR UPDATE OF status ON jobs
	FOR EACH ROW EXECUTE FUNCTION gwsync_jobs_outbox();

-- gws.integration.status_changed on every change of status, whoever makes it.
CREATE FUNCTION gwsync_integration_status_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.status IS DISTINCT FROM OLD.status THEN
		INSERT INTO outbox (stream, key, payload)
		VALUES ('events', NEW.id::text, gwsync_cloudevent('gws.integration.status_changed',
			NEW.tenant_id, NEW.id, NEW.id::text, jsonb_build_object('integration_id', NEW.id,
				'name', NEW.name, 'previous_status', OLD.status, 'status', NEW.status)));
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER integrations_status_event AFTER UPDATE OF status ON integrations
	FOR EACH ROW EXECUTE FUNCTION gwsync_integration_status_event();

-- Queues (or extends) the coalescing job of an integration: while a job of that key is still
-- queued, the object id joins its parameters instead of a new job being created.
CREATE FUNCTION gwsync_job_coalesce(tenant uuid, integration uuid, job_type text, ckey text,
	list text, object_id text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO jobs (tenant_id, integration_id, type, parameters, trigger, coalesce_key)
	VALUES (tenant, integration, job_type, jsonb_build_object(list, jsonb_build_array(object_id)),
		'directory_event', ckey)
	ON CONFLICT (integration_id, coalesce_key) WHERE status = 'queued' AND coalesce_key IS NOT NULL
	DO UPDATE SET parameters = jsonb_set(jobs.parameters, ARRAY[list],
			coalesce(jobs.parameters -> list, '[]') || to_jsonb(object_id)),
		updated_at = now()
	WHERE NOT coalesce(jobs.parameters -> list, '[]') ? object_id;
END $$;
