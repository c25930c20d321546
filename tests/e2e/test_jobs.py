"""The job pipeline end to end: REST → PostgreSQL (+ outbox) → relay → Kafka → worker → PostgreSQL.

Real PostgreSQL, real Kafka, the real binaries. Integrations are made `active` directly in the
database (authorization is another piece of work). The test-only job type `test_sleep` is enabled
with GWSYNC_JOB_TEST_RUNNERS=1.
"""
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

import gwsync_harness as h

FAST = {
    "GWSYNC_JOB_TEST_RUNNERS": 1,
    "GWSYNC_JOB_LEASE_MS": 1500,
    "GWSYNC_SCHEDULER_INTERVAL_MS": 300,
    "GWSYNC_JOB_REANNOUNCE_S": 3,
    "GWSYNC_OUTBOX_POLL_MS": 200,
}


def sql(db, query, args=()):
    return h.sql(db, query, *args)


class Pipeline:
    def __init__(self, db, api, group):
        self.db = db
        self.api = api
        self.group = group
        self.workers = []
        self.editor = h.create_key(db, "acme", "editor")

    def worker(self, **extra):
        env = h.base_env(self.db, GWSYNC_KAFKA_GROUP=self.group, **{**FAST, **extra})
        w = h.Process(["worker"], env)
        w.wait_event("worker_started")
        self.workers.append(w)
        return w

    def integration(self, name="Acme Workspace", status="active"):
        r = self.api.post("/v1/integrations", key=self.editor, json={"name": name})
        assert r.status_code == 201, r.text
        iid = r.json()["id"]
        if status != "pending_authorization":
            sql(self.db, "UPDATE integrations SET status = %s WHERE id = %s", (status, iid))
        return iid

    def job(self, iid, type_="test_sleep", **params):
        r = self.api.post(f"/v1/integrations/{iid}/jobs", key=self.editor,
                          json={"type": type_, "parameters": params})
        assert r.status_code == 202, r.text
        assert r.headers["Location"] == f"/v1/jobs/{r.json()['id']}"
        return r.json()

    def get(self, jid):
        r = self.api.get(f"/v1/jobs/{jid}", key=self.editor)
        assert r.status_code == 200, r.text
        return r.json()

    def wait_status(self, jid, statuses, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            j = self.get(jid)
            if j["status"] in statuses:
                return j
            assert time.monotonic() < deadline, f"job stayed {j['status']}: {j}"
            time.sleep(0.1)

    def close(self):
        for w in self.workers:
            if w.proc.poll() is None:
                status, _ = w.stop(timeout=30)
                h.assert_clean_exit(status, w)


@pytest.fixture
def pipe(db):
    api = h.Api(db, **FAST)
    p = Pipeline(db, api, "gwsync-test-" + uuid.uuid4().hex[:8])
    try:
        yield p
    finally:
        p.close()
        if api.process.proc.poll() is None:
            status, _ = api.stop()
            h.assert_clean_exit(status, api.process)


def test_job_lifecycle_through_rest(pipe):
    pipe.worker()
    iid = pipe.integration()
    job = pipe.job(iid, items=4, duration_ms=400, fail_every=2)
    assert job["status"] == "queued" and job["type"] == "test_sleep" and job["attempts"] == 0
    assert job["requested_by"] and job["trigger"] == "api"
    h.assert_schema(job, "Job")
    done = pipe.wait_status(job["id"], {"partially_failed", "succeeded", "failed"})
    assert done["status"] == "partially_failed", done
    assert done["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 2}
    assert done["progress"] == {"done": 4, "total": 4}
    assert done["attempts"] == 1 and done["finished_at"] and done["started_at"]
    h.assert_schema(done, "Job")
    items = pipe.api.get(f"/v1/jobs/{job['id']}/items?limit=3", key=pipe.editor).json()
    assert [i["object_id"] for i in items["items"]] == ["item-1", "item-2", "item-3"]
    rest = pipe.api.get(f"/v1/jobs/{job['id']}/items?cursor={items['next_cursor']}", key=pipe.editor).json()
    assert [i["object_id"] for i in rest["items"]] == ["item-4"] and "next_cursor" not in rest
    failed = pipe.api.get(f"/v1/jobs/{job['id']}/items?outcome=failed", key=pipe.editor).json()["items"]
    assert [i["object_id"] for i in failed] == ["item-2", "item-4"]
    assert failed[0]["error"] == {"reason": "test_failure", "message": "failed on purpose"}
    h.assert_problem(pipe.api.get(f"/v1/jobs/{job['id']}/items?outcome=nope", key=pipe.editor), 400)
    # A job whose runner fails ends failed with the reason.
    bad = pipe.job(iid, items=1, duration_ms=10, error="boom")
    assert pipe.wait_status(bad["id"], {"failed", "succeeded"})["error"] == "boom"
    listed = pipe.api.get(f"/v1/integrations/{iid}/jobs", key=pipe.editor).json()["items"]
    assert [j["id"] for j in listed] == [bad["id"], job["id"]]
    only = pipe.api.get(f"/v1/integrations/{iid}/jobs?status=failed&limit=1", key=pipe.editor).json()
    assert [j["id"] for j in only["items"]] == [bad["id"]]
    # verify_authorization without a stored credential: the one item fails and says why
    # (the run against Google is in test_authorization.py).
    v = pipe.job(iid, "verify_authorization")
    v = pipe.wait_status(v["id"], {"failed", "succeeded", "partially_failed"})
    assert v["status"] == "partially_failed" and v["counts"]["failed"] == 1, v


def test_job_validation_and_refusals(pipe):
    iid = pipe.integration()
    pending = pipe.integration("Pending", status="pending_authorization")
    body = h.assert_problem(pipe.api.post(f"/v1/integrations/{pending}/jobs", key=pipe.editor,
                                          json={"type": "export_users"}), 409, "integration-not-active")
    assert "pending_authorization" in body["detail"]
    # Verification is the one job an inactive integration may run.
    r = pipe.api.post(f"/v1/integrations/{pending}/jobs", key=pipe.editor, json={"type": "verify_authorization"})
    assert r.status_code == 202, r.text
    p = h.assert_problem(pipe.api.post(f"/v1/integrations/{iid}/jobs", key=pipe.editor,
                                       json={"type": "nope", "parameters": [], "x": 1}), 400, "validation")
    assert {e["pointer"] for e in p["errors"]} == {"/type", "/parameters", "/x"}
    # null is no object: openapi's parameters is an object (leave it out for none)
    for type_ in ("full_sync", "import_users", "test_sleep"):
        p = h.assert_problem(pipe.api.post(f"/v1/integrations/{iid}/jobs", key=pipe.editor,
                                           json={"type": type_, "parameters": None}), 400, "validation")
        assert [e["pointer"] for e in p["errors"]] == ["/parameters"], p
    assert not sql(pipe.db, "SELECT 1 FROM jobs WHERE integration_id = %s AND type <> 'verify_authorization'",
                   (iid,))
    h.assert_problem(pipe.api.post(f"/v1/integrations/{uuid.uuid4()}/jobs", key=pipe.editor,
                                   json={"type": "export_users"}), 404)
    h.assert_problem(pipe.api.get(f"/v1/jobs/{uuid.uuid4()}", key=pipe.editor), 404)
    h.assert_problem(pipe.api.get(f"/v1/integrations/{uuid.uuid4()}/jobs", key=pipe.editor), 404)
    reader = h.create_key(pipe.db, "acme", "reader")
    h.assert_problem(pipe.api.post(f"/v1/integrations/{iid}/jobs", key=reader, json={"type": "full_sync"}), 403)
    # Another tenant sees nothing of these jobs.
    job = pipe.job(iid, items=1, duration_ms=1)
    other = h.create_key(pipe.db, "globex", "editor")
    h.assert_problem(pipe.api.get(f"/v1/jobs/{job['id']}", key=other), 404)
    h.assert_problem(pipe.api.get(f"/v1/jobs/{job['id']}/items", key=other), 404)
    h.assert_problem(pipe.api.post(f"/v1/jobs/{job['id']}/cancel", key=other), 404)
    h.assert_problem(pipe.api.get(f"/v1/integrations/{iid}/jobs", key=other), 404)
    # The job row and its outbox announcement were written together.
    rows = sql(pipe.db, "SELECT count(*) FROM outbox WHERE stream = 'jobs' AND convert_from(payload, 'UTF8')::jsonb ->> 'job_id' = %s", (job["id"],))
    assert rows[0][0] == 1


def test_cancellation(pipe):
    pipe.worker()
    iid = pipe.integration()
    running = pipe.job(iid, items=100, duration_ms=20000)
    queued = pipe.job(iid, items=1, duration_ms=10)
    pipe.wait_status(running["id"], {"running"})
    r = pipe.api.post(f"/v1/jobs/{queued['id']}/cancel", key=pipe.editor)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    r = pipe.api.post(f"/v1/jobs/{running['id']}/cancel", key=pipe.editor)
    assert r.status_code == 202 and r.json()["cancel_requested"] is True, r.text
    j = pipe.wait_status(running["id"], {"cancelled", "succeeded", "failed"}, timeout=10)
    assert j["status"] == "cancelled" and j["progress"]["done"] < 100, j
    h.assert_problem(pipe.api.post(f"/v1/jobs/{running['id']}/cancel", key=pipe.editor), 409, "conflict")
    assert pipe.get(queued["id"])["attempts"] == 0


def test_one_running_job_per_integration(pipe):
    pipe.worker(GWSYNC_WORKER_CONCURRENCY=4)
    pipe.worker(GWSYNC_WORKER_CONCURRENCY=4)
    a, b = pipe.integration("A"), pipe.integration("B")
    jobs = [pipe.job(iid, items=3, duration_ms=600) for iid in (a, a, a, b, b)]
    seen_running = 0
    deadline = time.monotonic() + 60
    while True:
        per = sql(pipe.db, "SELECT integration_id::text, count(*) FILTER (WHERE status = 'running'), "
                           "count(*) FILTER (WHERE status IN ('queued', 'running')) FROM jobs GROUP BY 1")
        assert all(running <= 1 for _, running, _ in per), per
        seen_running = max(seen_running, sum(r for _, r, _ in per))
        if all(left == 0 for _, _, left in per):
            break
        assert time.monotonic() < deadline, per
        time.sleep(0.05)
    assert seen_running == 2  # both integrations ran in parallel, each one job at a time
    done = [pipe.get(j["id"]) for j in jobs]
    assert all(j["status"] == "succeeded" and j["attempts"] == 1 for j in done), done
    # Jobs of one integration ran one after the other.
    spans = sorted((j["started_at"], j["finished_at"]) for j in done if j["integration_id"] == a)
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1)), spans


def test_crash_lease_expires_and_another_worker_finishes(pipe):
    first = pipe.worker()
    iid = pipe.integration()
    job = pipe.job(iid, items=20, duration_ms=4000)
    first.wait_for(lambda r: r.get("event") == "job_started" and r.get("job_id") == job["id"])
    deadline = time.monotonic() + 20
    while pipe.get(job["id"])["progress"]["done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    assert pipe.get(job["id"])["status"] == "running"
    second = pipe.worker()
    j = pipe.wait_status(job["id"], {"succeeded", "failed", "partially_failed"}, timeout=60)
    assert j["status"] == "succeeded" and j["attempts"] == 2, j
    second.wait_for(lambda r: r.get("event") == "job_finished" and r.get("job_id") == job["id"])
    finished = [r for w in pipe.workers for r in w.records
                if r.get("event") == "job_finished" and r.get("job_id") == job["id"]]
    assert len(finished) == 1
    events = sql(pipe.db, "SELECT count(*) FROM outbox WHERE stream = 'events' AND "
                          "convert_from(payload, 'UTF8')::jsonb ->> 'type' = 'gws.job.finished' AND "
                          "convert_from(payload, 'UTF8')::jsonb ->> 'subject' = %s", (job["id"],))
    assert events[0][0] == 1


def finished_events(db, jid):
    rows = sql(db, "SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' FROM outbox WHERE "
                   "stream = 'events' AND convert_from(payload, 'UTF8')::jsonb ->> 'type' = "
                   "'gws.job.finished' AND convert_from(payload, 'UTF8')::jsonb ->> 'subject' = %s",
               (jid,))
    return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


def all_items(pipe, jid):
    items, cursor = [], None
    while True:
        q = f"/v1/jobs/{jid}/items?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = pipe.api.get(q, key=pipe.editor).json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def test_rerun_after_kill_resumes_and_counts_objects_once(pipe):
    """Issue 10 item 12: a job taken over after a SIGKILL resumes; its items are not recorded twice."""
    first = pipe.worker()
    iid = pipe.integration()
    job = pipe.job(iid, items=10, duration_ms=3000)
    first.wait_for(lambda r: r.get("event") == "job_started" and r.get("job_id") == job["id"])
    deadline = time.monotonic() + 20
    while pipe.get(job["id"])["progress"]["done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    before = {i["object_id"] for i in all_items(pipe, job["id"])}
    assert len(before) >= 2 and pipe.get(job["id"])["status"] == "running"
    second = pipe.worker()
    j = pipe.wait_status(job["id"], {"succeeded", "failed", "partially_failed"}, timeout=60)
    assert j["status"] == "succeeded" and j["attempts"] == 2, j
    assert j["counts"] == {"created": 10, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0}, j
    items = all_items(pipe, job["id"])
    assert sorted(i["object_id"] for i in items) == sorted(f"item-{n}" for n in range(1, 11)), items
    # The second run did only what the first had not done.
    resumed = second.wait_for(lambda r: r.get("event") == "job_finished" and r.get("job_id") == job["id"])
    assert resumed["created"] == 10 - len(before), resumed
    events = finished_events(pipe.db, job["id"])
    assert len(events) == 1 and events[0]["counts"]["created"] == 10, events


def test_killed_workers_job_moves_on_within_lease_and_session_timeout(pipe):
    """Issue 10 item 13: the group drops a dead worker after GWSYNC_KAFKA_SESSION_TIMEOUT_MS.

    Two workers run from the start; the one that runs the job is killed. The job is queued again
    when its lease expires, announced on its integration's partition, and that partition moves to
    the survivor once the group gives up on the dead member: with librdkafka's 45-s default
    session the job waited that long; the default setting lets it move on within about 10 s.
    """
    config = h.run(["config", "check"], h.base_env(pipe.db)).stdout
    session_ms = 8000
    assert f"GWSYNC_KAFKA_SESSION_TIMEOUT_MS={session_ms}" in config.replace(" ", ""), config
    a, b = pipe.worker(), pipe.worker()
    iid = pipe.integration()
    job = pipe.job(iid, items=6, duration_ms=3000)
    j = pipe.wait_status(job["id"], {"running"}, timeout=60)
    while j["progress"]["done"] < 1:
        time.sleep(0.02)
        j = pipe.get(job["id"])
    owner_pid = int(j["worker"].split(":")[1])
    victim, survivor = (a, b) if a.proc.pid == owner_pid else (b, a)
    assert victim.proc.pid == owner_pid, (j["worker"], a.proc.pid, b.proc.pid)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    killed = time.monotonic()
    j = pipe.wait_status(job["id"], {"succeeded", "failed", "partially_failed"}, timeout=90)
    took = time.monotonic() - killed
    assert j["status"] == "succeeded" and j["attempts"] == 2, j
    survivor.wait_for(lambda r: r.get("event") == "job_finished" and r.get("job_id") == job["id"])
    # What this proves is that the group used the configured session, not librdkafka's 45-s default:
    # with the default, the partition could not move before 45 s. The expected time (lease, session,
    # a rejoin and what was left of the job) is about 15 s; a busy 2-core CI machine took 18 s, so the
    # bound sits between the two rather than on the expected time.
    librdkafka_default_session_s = 45
    assert took < librdkafka_default_session_s - 5, \
        f"the job finished {took:.1f} s after the kill: the dead member was dropped on the default session"


def test_job_items_are_upserted_per_object(pipe):
    """Recording an object again replaces its outcome; the job's counts move with it."""
    iid = pipe.integration()
    job = pipe.job(iid, items=1, duration_ms=1)
    jid = job["id"]
    sql(pipe.db, "UPDATE jobs SET status = 'running', lease_owner = 'me', "
                 "lease_expires_at = now() + interval '1 hour' WHERE id = %s", (jid,))
    env = h.base_env(pipe.db)
    url = h.database_url(pipe.db)
    tool = os.path.join(os.environ["GWSYNC_TEST_TOOLS"], "store_tool")

    def add(object_id, outcome):
        subprocess.run([tool, url, "job-item-add", jid, "me", "test", object_id, outcome], env=env,
                       check=True, timeout=30)

    add("a", "failed")
    add("b", "created")
    add("a", "created")
    add("a", "created")
    j = pipe.get(jid)
    assert j["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0}, j
    items = all_items(pipe, jid)
    assert [(i["object_id"], i["outcome"]) for i in items] == [("a", "created"), ("b", "created")]
    assert "error" not in items[0] or items[0]["error"] is None, items[0]
    done = subprocess.run([tool, url, "job-items-done", jid, "test"], env=env, check=True, timeout=30,
                          capture_output=True, text=True).stdout.split()
    assert done == ["a", "b"]
    add("b", "failed")
    assert pipe.get(jid)["counts"]["failed"] == 1 and pipe.get(jid)["counts"]["created"] == 1
    done = subprocess.run([tool, url, "job-items-done", jid, "test"], env=env, check=True, timeout=30,
                          capture_output=True, text=True).stdout.split()
    assert done == ["a"]  # a failed object is tried again on a resumed run


def test_expired_leases_fail_after_attempt_limit(db):
    api = h.Api(db, **{**FAST, "GWSYNC_JOB_MAX_ATTEMPTS": 1})
    try:
        editor = h.create_key(db, "acme", "editor")
        iid = api.post("/v1/integrations", key=editor, json={"name": "X"}).json()["id"]
        sql(db, "UPDATE integrations SET status = 'active' WHERE id = %s", (iid,))
        jid = api.post(f"/v1/integrations/{iid}/jobs", key=editor, json={"type": "test_sleep"}).json()["id"]
        # A worker that vanished: running, lease long gone.
        sql(db, "UPDATE jobs SET status = 'running', attempts = 1, lease_owner = 'gone:1:x', "
                "lease_expires_at = now() - interval '1 minute' WHERE id = %s", (jid,))
        deadline = time.monotonic() + 20
        while True:
            j = api.get(f"/v1/jobs/{jid}", key=editor).json()
            if j["status"] != "running":
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert j["status"] == "failed" and "lease expired" in j["error"], j
        assert j["error_reason"] == "lease_expired" and "lost the database" in j["error"], j
    finally:
        status, _ = api.stop()
    h.assert_clean_exit(status, api.process)


def test_graceful_shutdown_gives_the_job_back(pipe):
    w = pipe.worker()
    iid = pipe.integration()
    job = pipe.job(iid, items=50, duration_ms=10000)
    w.wait_for(lambda r: r.get("event") == "job_started" and r.get("job_id") == job["id"])
    status, took = w.stop(timeout=30)
    h.assert_clean_exit(status, w)
    w.wait_event("job_released", timeout=1)
    j = pipe.get(job["id"])
    assert j["status"] == "queued" and j["attempts"] == 0 and j["worker"] is None, j
    pipe.worker()
    assert pipe.wait_status(job["id"], {"running"}, timeout=30)["attempts"] == 1
    pipe.api.post(f"/v1/jobs/{job['id']}/cancel", key=pipe.editor)
    pipe.wait_status(job["id"], {"cancelled"}, timeout=30)


def test_replayed_message_never_reruns_a_finished_job(pipe):
    w = pipe.worker()
    iid = pipe.integration()
    job = pipe.job(iid, items=1, duration_ms=10)
    pipe.wait_status(job["id"], {"succeeded"})
    msg = json.dumps({"job_id": job["id"], "integration_id": iid})
    for _ in range(3):
        subprocess.run(["kcat", "-P", "-b", os.environ["GWSYNC_KAFKA_BROKERS"], "-t", "gwsync.jobs", "-k", iid],
                       input=msg.encode(), check=True, timeout=30)
    w.wait_for(lambda r: r.get("event") == "job_claim" and r.get("msg") == "not_queued"
               and r.get("job_id") == job["id"], timeout=30)
    j = pipe.get(job["id"])
    assert j["status"] == "succeeded" and j["attempts"] == 1


def test_first_rows_after_start_are_relayed_promptly(db):
    """Rows written right after the api starts are published at once, on every topic.

    librdkafka learns a topic first named by a message only on its periodic scan of unknown
    topics (once a second), and the message (and the relay's whole batch) waited for it: the
    first job and the first gwsync event after each start lagged up to a second.
    """
    editor = h.create_key(db, "acme", "editor")
    api = h.Api(db, **FAST)
    try:
        r = api.post("/v1/integrations", key=editor, json={"name": "Warm"})
        assert r.status_code == 201, r.text
        iid = r.json()["id"]
        sql(db, "UPDATE integrations SET status = 'active' WHERE id = %s", (iid,))  # events stream
        r = api.post(f"/v1/integrations/{iid}/jobs", key=editor, json={"type": "full_sync"})
        assert r.status_code == 202, r.text  # jobs stream
        sql(db, "INSERT INTO outbox (stream, key, payload) VALUES ('dlq', %s, 'relay start test')", (iid,))
        deadline = time.monotonic() + 30
        while sql(db, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]:
            assert time.monotonic() < deadline, "outbox not relayed"
            time.sleep(0.05)
        lags = dict(sql(db, "SELECT stream, max(extract(epoch FROM published_at - created_at) * 1000) "
                            "FROM outbox GROUP BY stream"))
        assert set(lags) == {"jobs", "events", "dlq"}, lags
        assert all(ms < 400 for ms in lags.values()), lags
    finally:
        status, _ = api.stop()
        h.assert_clean_exit(status, api.process)


def test_metrics_show_outbox(pipe):
    iid = pipe.integration()
    pipe.job(iid, items=1, duration_ms=1)
    text = pipe.api.get("/metrics").text
    assert "gwsync_outbox_backlog_rows " in text
    assert "gwsync_outbox_relay_lag_seconds_bucket" in text


def test_metrics_show_jobs_integrations_and_dead_letters(pipe):
    """What operations alert on (deploy/k8s/base/prometheusrule.yaml), counted from PostgreSQL."""
    iid = pipe.integration()
    pipe.integration(name="Needs consent", status="reauthorization_required")
    pipe.job(iid, items=1, duration_ms=1)
    text = pipe.api.get("/metrics").text
    lines = set(text.splitlines())
    sleeps = [line for line in lines if line.startswith('gwsync_jobs{type="test_sleep",status="')]
    assert sum(int(line.rsplit(" ", 1)[1]) for line in sleeps) == 1, text
    assert 'gwsync_integrations{status="active"} 1' in lines, text
    assert 'gwsync_integrations{status="reauthorization_required"} 1' in lines, text
    assert 'gwsync_integrations{status="deactivated"} 0' in lines, text
    assert "gwsync_dead_letters_last_hour 0" in lines, text
    sql(pipe.db, "INSERT INTO outbox (stream, key, payload) VALUES ('dlq', 'k', '\\x7b7d')")
    lines = set(pipe.api.get("/metrics").text.splitlines())
    assert "gwsync_dead_letters_last_hour 1" in lines
