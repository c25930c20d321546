"""Broker and database outages: nothing lost, nothing run twice, recovery without help."""
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
