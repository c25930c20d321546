"""Scheduled imports (issue 14, item 5): the scheduler queues import_users every interval.

GWSYNC_IMPORT_MINUTE_MS shortens the schedule's minute to 100 ms (its least), so the shortest
interval (15 minutes) comes around every 1.5 s. Integrations are made active in the database; no Google is
needed: without an import runner on this branch such jobs end failed ("no runner"), which is
exactly a run that fails and must not be retried before the next interval.
"""
import datetime

import pytest

import gwsync_harness as h
from test_events import wait_until
from test_authorization import emu, sa_keys  # noqa: F401  (fixtures)
from test_export import FAST as export_fast, pending  # noqa: F401  (fixture)
from test_jobs import FAST, pipe, sql  # noqa: F401  (fixture)

MINUTE_MS = 100
INTERVAL = datetime.timedelta(milliseconds=15 * MINUTE_MS)


@pytest.fixture
def short_minute(monkeypatch):
    """Requested before test_jobs' pipe fixture, whose api then runs with the short minute."""
    monkeypatch.setitem(FAST, "GWSYNC_IMPORT_MINUTE_MS", MINUTE_MS)


def imports(p, iid):
    return sql(p.db, "SELECT id::text, status, parameters, trigger, created_at FROM jobs WHERE "
                     "integration_id = %s AND type = 'import_users' ORDER BY created_at", (iid,))


def schedule(p, iid):
    r = p.api.get(f"/v1/integrations/{iid}", key=p.editor)
    assert r.status_code == 200, r.text
    return r.json()["settings"]["import_schedule"]


def patch(p, iid, **sched):
    r = p.api.request("PATCH", f"/v1/integrations/{iid}", key=p.editor,
                      json={"settings": {"import_schedule": sched}})
    assert r.status_code == 200, r.text
    return r.json()


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def ms(t):
    """A database time as the API shows it (milliseconds)."""
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def test_queued_once_per_interval_never_two_at_once_failures_not_retried(short_minute, pipe):
    p = pipe
    assert p.api.process.proc.poll() is None
    iid = p.integration()
    idle = p.integration("Not authorized", status="pending_authorization")
    patch(p, idle, enabled=True, interval_minutes=15)
    it = patch(p, iid, enabled=True, interval_minutes=15)
    assert it["settings"]["import_schedule"]["enabled"] is True
    h.assert_schema(it, "Integration")

    # no worker yet: the first scheduled job stays queued
    first = wait_until(lambda: imports(p, iid), what="a scheduled import")
    assert len(first) == 1
    jid, status, params, trigger, created = first[0]
    assert status == "queued" and trigger == "schedule"
    assert params == {"mode": "full", "all_new": True}
    s = wait_until(lambda: (lambda s: s if s["last_run_at"] else None)(schedule(p, iid)),
                   what="last_run_at shown")
    assert ts(s["last_run_at"]) == ms(created)
    assert ts(s["next_run_at"]) == ms(created + INTERVAL)
    h.assert_schema(p.api.get(f"/v1/integrations/{iid}", key=p.editor).json(), "Integration")

    # two intervals pass while it is still queued: never a second one at once
    last = sql(p.db, "SELECT now()")[0][0]
    wait_until(lambda: sql(p.db, "SELECT now()")[0][0] > last + 2 * INTERVAL, what="two intervals")
    assert [j[0] for j in imports(p, iid)] == [jid]
    # the integration that is not active gets none and shows no next run
    assert imports(p, idle) == []
    assert schedule(p, idle)["last_run_at"] is None and schedule(p, idle)["next_run_at"] is None

    # a worker fails it (no runner on this branch); the next run comes an interval after the
    # last queue time, never sooner: no storm of retries
    p.worker()
    p.wait_status(jid, {"failed", "succeeded", "partially_failed"})
    jobs = wait_until(lambda: (lambda js: js if len(js) >= 3 else None)(imports(p, iid)),
                      what="two more scheduled imports")
    for a, b in zip(jobs, jobs[1:]):
        assert b[4] - a[4] >= INTERVAL, (a, b)
    assert all(j[3] == "schedule" for j in jobs)
    # the resource follows the scheduler (its read cache learns of changes by notification)

    def shown():
        s, newest = schedule(p, iid), max(j[4] for j in imports(p, iid))
        return ts(s["last_run_at"]) == ms(newest) and ts(s["next_run_at"]) == ms(newest + INTERVAL)
    wait_until(shown, what="last and next run of the newest import")

    # the mode travels in the parameters
    patch(p, iid, mode="updates_only")
    n = len(imports(p, iid))
    jobs = wait_until(lambda: (lambda js: js if len(js) > n else None)(imports(p, iid)),
                      what="an updates_only import")
    assert jobs[-1][2] == {"mode": "updates_only", "all_new": False}

    # turned off: no next run, nothing more queued
    patch(p, iid, enabled=False)
    wait_until(lambda: schedule(p, iid)["next_run_at"] is None, what="next_run_at cleared")
    n = len(imports(p, iid))
    last = sql(p.db, "SELECT now()")[0][0]
    wait_until(lambda: sql(p.db, "SELECT now()")[0][0] > last + 2 * INTERVAL, what="two intervals")
    assert len(imports(p, iid)) == n


@pytest.fixture
def short_minute_google(monkeypatch):
    """The short minute for test_export's fixtures (an integration authorized on the emulator)."""
    monkeypatch.setitem(export_fast, "GWSYNC_IMPORT_MINUTE_MS", MINUTE_MS)


def test_a_scheduled_run_google_refuses_fails_once_per_interval_with_invalid_import_filter(
        short_minute_google, pending):
    """Issue 14, cases from the field: a filter Google refuses makes each scheduled run fail with
    invalid_import_filter (the job's error_reason and its gws.job.finished), once per interval."""
    p = pending
    p.settings(import_filter="name:O'Brien",
               import_schedule={"enabled": True, "interval_minutes": 15, "mode": "full"})
    p.authorize()

    def failed_runs():
        js = [j for j in imports(p, p.iid) if j[3] == "schedule"]
        done = [j for j in js if j[1] == "failed"]
        return js if len(done) >= 2 else None
    jobs = wait_until(failed_runs, timeout=60, what="two failed scheduled imports")
    for a, b in zip(jobs, jobs[1:]):
        assert b[4] - a[4] >= INTERVAL, (a, b)
    for jid, status, *_ in jobs:
        if status != "failed":
            continue
        job = p.api.get(f"/v1/jobs/{jid}", key=p.key).json()
        assert job["error_reason"] == "invalid_import_filter", job
        assert "Invalid Input: query" in job["error"], job
        data = sql(p.db, "SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' FROM outbox WHERE "
                         "stream = 'events' AND convert_from(payload, 'UTF8')::jsonb ->> 'subject' = %s "
                         "AND convert_from(payload, 'UTF8')::jsonb ->> 'type' = 'gws.job.finished'", (jid,))
        assert [d[0]["error_reason"] for d in data] == ["invalid_import_filter"], data
def test_answer_to_a_schedule_change_shows_the_next_run_a_read_shows(pipe):
    """The answer to PATCH kept the stored next_run_at until the scheduler's next tick: turning
    the schedule off answered the old time, turning it on after a run answered null. The answer
    now equals a read right after it; the change stays bookkeeping (no export reconcile)."""
    p = pipe
    minute = datetime.timedelta(minutes=1)  # the default GWSYNC_IMPORT_MINUTE_MS
    iid = p.integration()
    # ran once (an hour ago), schedule off: the scheduler shows no next run
    sql(p.db, "UPDATE integrations SET import_last_run_at = now() - interval '1 hour' WHERE id = %s",
        (iid,))
    wait_until(lambda: schedule(p, iid)["last_run_at"] is not None, what="last_run_at shown")
    last = ts(schedule(p, iid)["last_run_at"])

    def check(answer, due_after):
        s = answer["settings"]["import_schedule"]
        assert s == schedule(p, iid), (s, schedule(p, iid))
        assert (ts(s["next_run_at"]) if s["next_run_at"] else None) == (
            last + due_after if due_after else None), s

    check(patch(p, iid, enabled=True, interval_minutes=180), 180 * minute)
    check(patch(p, iid, interval_minutes=240), 240 * minute)
    check(patch(p, iid, enabled=False), None)
    check(patch(p, iid, enabled=True), 240 * minute)
    r = p.api.post(f"/v1/integrations/{iid}/deactivate", key=p.editor)
    assert r.status_code == 200, r.text
    check(r.json(), None)
    assert imports(p, iid) == []
    assert sql(p.db, "SELECT count(*) FROM jobs WHERE integration_id = %s", (iid,))[0][0] == 0


def test_answer_to_turning_on_a_schedule_that_never_ran_shows_its_first_run_due(pipe):
    """A tester: the PATCH that turned the schedule on answered next_run_at null, and a read
    right after showed a time. Before its first run a schedule's next run is due at once: the
    answer shows that time and so does every read, until a run is queued. A queued import (no
    worker) holds the first scheduled one back, so the scheduler's ticks change nothing read here."""
    p = pipe
    iid = p.integration()
    sql(p.db, "INSERT INTO jobs (tenant_id, integration_id, type) SELECT tenant_id, id, "
              "'import_users' FROM integrations WHERE id = %s", (iid,))

    def check(answer, due):
        s = answer["settings"]["import_schedule"]
        assert s == schedule(p, iid), (s, schedule(p, iid))
        assert s["last_run_at"] is None and (s["next_run_at"] is not None) == due, s
        return s

    s = check(patch(p, iid, enabled=True, interval_minutes=15), True)
    # ticks come and go: the first run stays due since that time
    last = sql(p.db, "SELECT now()")[0][0]
    wait_until(lambda: sql(p.db, "SELECT now()")[0][0] > last + datetime.timedelta(seconds=1),
               what="a few scheduler ticks")
    assert schedule(p, iid) == s
    check(patch(p, iid, interval_minutes=30), True)
    check(patch(p, iid, enabled=False), False)
    check(patch(p, iid, enabled=True), True)
    assert [j[3] for j in imports(p, iid)] == ["api"]
