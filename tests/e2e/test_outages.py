"""Broker and database outages: nothing lost, nothing run twice, recovery without help."""
import json
import time
from concurrent.futures import ThreadPoolExecutor

import requests

import gwsync_harness as h
from test_jobs import Pipeline, FAST, sql, pipe  # noqa: F401  (fixture)


def test_broker_outage_loses_and_duplicates_nothing(pipe):
    pipe.worker(GWSYNC_WORKER_CONCURRENCY=8)
    integrations = [pipe.integration(f"I{i}") for i in range(10)]
    h.services("stop", "kafka")
    try:
        def create(i):
            iid = integrations[i % len(integrations)]
            r = pipe.api.post(f"/v1/integrations/{iid}/jobs", key=pipe.editor,
                              json={"type": "test_sleep", "parameters": {"items": 1, "duration_ms": 0}})
            assert r.status_code == 202, r.text
            return r.json()["id"]
        t0 = time.monotonic()
        with ThreadPoolExecutor(8) as ex:
            ids = list(ex.map(create, range(200)))
        assert time.monotonic() - t0 < 30
        assert len(set(ids)) == 200
        backlog = int(next(line.split()[1] for line in pipe.api.get("/metrics").text.splitlines()
                           if line.startswith("gwsync_outbox_backlog_rows ")))
        assert backlog >= 200
        # The API is still ready: Kafka is only named degraded (the outbox holds the work).
        deadline = time.monotonic() + 30
        while (r := pipe.api.get("/readyz")).json()["checks"]["kafka"]["status"] != "degraded":
            assert r.status_code == 200 and time.monotonic() < deadline, r.text
            time.sleep(0.5)
        assert r.status_code == 200 and r.json()["status"] == "degraded", r.text
    finally:
        h.services("start", "kafka")
    deadline = time.monotonic() + 180
    while True:
        rows = sql(pipe.db, "SELECT status, count(*), max(attempts) FROM jobs GROUP BY status")
        by = {s: (n, a) for s, n, a in rows}
        if by.get("succeeded", (0, 0))[0] == 200:
            break
        assert time.monotonic() < deadline, by
        time.sleep(0.5)
    assert by["succeeded"][1] == 1, "a job ran more than once"
    items = sql(pipe.db, "SELECT job_id, count(*) FROM job_items GROUP BY job_id HAVING count(*) <> 1")
    assert items == []
    finished = [r.get("job_id") for w in pipe.workers for r in w.records if r.get("event") == "job_finished"]
    assert len(finished) == 200 and set(finished) == set(ids)


def test_database_outage_answers_503_and_recovers(pipe):
    iid = pipe.integration()
    assert pipe.api.get("/readyz").status_code == 200
    h.services("stop", "pg")
    try:
        for path in (f"/v1/integrations/{iid}/jobs", "/v1/integrations"):
            t0 = time.monotonic()
            r = pipe.api.get(path, key=pipe.editor)
            assert time.monotonic() - t0 < 5
            h.assert_problem(r, 503, "unavailable")
        t0 = time.monotonic()
        r = pipe.api.post(f"/v1/integrations/{iid}/jobs", key=pipe.editor, json={"type": "full_sync"})
        assert time.monotonic() - t0 < 5
        h.assert_problem(r, 503, "unavailable")
        t0 = time.monotonic()
        body = h.assert_problem(pipe.api.get("/readyz"), 503, "not-ready")
        assert time.monotonic() - t0 < 5
        assert body["checks"]["database"]["status"] == "down"
        assert pipe.api.get("/healthz").status_code == 200
        assert pipe.api.get("/metrics").status_code == 200
    finally:
        h.services("start", "pg")
    deadline = time.monotonic() + 60
    while pipe.api.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "readiness did not recover"
        time.sleep(0.5)
    r = pipe.api.post(f"/v1/integrations/{iid}/jobs", key=pipe.editor,
                      json={"type": "test_sleep", "parameters": {"items": 1, "duration_ms": 1}})
    assert r.status_code == 202, r.text
    # The relay recovered too: the announcement leaves the outbox.
    deadline = time.monotonic() + 60
    while sql(pipe.db, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]:
        assert time.monotonic() < deadline, "outbox not drained after the database returned"
        time.sleep(0.2)


def test_a_write_is_never_sent_twice_after_a_lost_connection(db):
    """Issue 10 item 4: a statement that went out is not re-sent when its connection is lost.

    A trigger counts each INSERT into jobs with a sequence (which no rollback undoes) and then ends
    its own backend, as a connection dropped while the statement ran: the API answers 503 and the
    statement ran once; sending it again could have created the job twice had it committed.
    Connections the server ended while they sat idle in the pool are replaced before anything is
    sent on them, so the next requests work. (The relay and the scheduler poll slowly here, so
    that only these requests take connections from the pool.)
    """
    api = h.Api(db, GWSYNC_OUTBOX_POLL_MS=60000, GWSYNC_SCHEDULER_INTERVAL_MS=600000)
    try:
        check_no_resend(db, api, h.create_key(db, "acme", "editor"))
    finally:
        status, _ = api.stop()
    h.assert_clean_exit(status, api.process)


def check_no_resend(db, api, editor):
    r = api.post("/v1/integrations", key=editor, json={"name": "Acme"})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    sql(db, "UPDATE integrations SET status = 'active' WHERE id = %s", (iid,))
    for _ in range(3):  # the pool holds idle connections from here on
        assert api.get(f"/v1/integrations/{iid}/jobs", key=editor).status_code == 200
    sql(db, "CREATE SEQUENCE job_insert_attempts")
    sql(db, "CREATE FUNCTION job_insert_dies() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                 "PERFORM nextval('job_insert_attempts'); PERFORM pg_terminate_backend(pg_backend_pid()); "
                 "RETURN NEW; END $$")
    sql(db, "CREATE TRIGGER job_insert_dies BEFORE INSERT ON jobs FOR EACH ROW "
                 "EXECUTE FUNCTION job_insert_dies()")
    r = api.post(f"/v1/integrations/{iid}/jobs", key=editor, json={"type": "full_sync"})
    h.assert_problem(r, 503, "unavailable")
    assert sql(db, "SELECT last_value, is_called FROM job_insert_attempts")[0] == (1, True)
    sql(db, "DROP TRIGGER job_insert_dies ON jobs")
    assert api.get(f"/v1/integrations/{iid}/jobs", key=editor).status_code == 200
    # Every connection the API holds idle in its pool ends (not its LISTEN connections, whose
    # loss wakes the relay at once).
    pids = [r[0] for r in sql(db, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND pid <> pg_backend_pid() AND application_name = 'gwsync-api' "
                                  "AND state = 'idle' AND query NOT LIKE 'LISTEN %%'")]
    assert pids
    sql(db, "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", (pids,))
    deadline = time.monotonic() + 10
    while sql(db, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s::int[])", (pids,))[0][0]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = api.post(f"/v1/integrations/{iid}/jobs", key=editor, json={"type": "full_sync"})
    assert r.status_code == 202, r.text
    assert api.get(f"/v1/jobs/{r.json()['id']}", key=editor).status_code == 200
    assert sql(db, "SELECT count(*) FROM jobs WHERE integration_id = %s", (iid,))[0][0] == 1
    # The dead connections were found before anything was sent on them, not by a failed statement.
    logged = [r.get("event") for r in api.process.records]
    assert "db_conn_replaced" in logged and "db_statement_resent" not in logged, "\n".join(json.dumps(r) for r in api.process.records if r.get("event") != "http_request")
