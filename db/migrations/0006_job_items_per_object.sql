-- A job records one item per object: a run taken over after a crash (or given back at shutdown)
-- resumes, and an object recorded again replaces its outcome, so the job's counts count objects,
-- not attempts (store_job_item_add upserts on this index and moves the counts).

-- Runs before this migration may have recorded an object twice: keep its latest outcome and
-- count those jobs' objects afresh (items and counts were always written together, so a job whose
-- counts differ from its items is one that lost duplicates here).
DELETE FROM job_items a USING job_items b
WHERE a.job_id = b.job_id AND a.object_type = b.object_type AND a.object_id = b.object_id
	AND a.seq < b.seq;

UPDATE jobs j SET created_count = c.created, updated_count = c.updated,
	unchanged_count = c.unchanged, skipped_count = c.skipped, failed_count = c.failed
FROM (SELECT job_id,
		count(*) FILTER (WHERE outcome = 'created') AS created,
		count(*) FILTER (WHERE outcome = 'updated') AS updated,
		count(*) FILTER (WHERE outcome = 'unchanged') AS unchanged,
		count(*) FILTER (WHERE outcome = 'skipped') AS skipped,
		count(*) FILTER (WHERE outcome = 'failed') AS failed
	FROM job_items GROUP BY job_id) c
WHERE j.id = c.job_id AND (j.created_count, j.updated_count, j.unchanged_count, j.skipped_count,
	j.failed_count) IS DISTINCT FROM (c.created, c.updated, c.unchanged, c.skipped, c.failed);

CREATE UNIQUE INDEX job_items_object ON job_items (job_id, object_type, object_id);
