-- Why a job failed, as a stable name beside its message: the runner's reason (e.g.
-- invalid_import_filter, Google's reason such as notFound) or the error's class (unavailable,
-- upstream, ...), and lease_expired when the scheduler gave up on a job whose workers kept dying.
-- NULL while the job has not failed. gws.job.finished carries it as data.error_reason.
ALTER TABLE jobs ADD COLUMN error_reason text;

-- gwsync_jobs_outbox (0004) as before, with error_reason in gws.job.finished.
CREATE OR REPLACE FUNCTION gwsync_jobs_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
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
				'error_reason', NEW.error_reason,
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
