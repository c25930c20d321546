"""The user import engine end to end: gws-emulator → worker → PostgreSQL → outbox → Kafka.

Each test gets its own database, api and worker and an integration authorized against the
module's emulator (reset per test), as in test_export.py. Google's side is seeded through the
emulator's control API and checked through its request log; events are read from Kafka with kcat,
as the other e2e tests do.
"""
import contextlib
import json
import time
import urllib.parse

import gwsync_harness as h
from test_authorization import emu, sa_keys  # noqa: F401 (fixtures)
from test_events import consume_all, wait_until
from test_export import (  # noqa: F401 (fixtures)
    ex, google_call, gu, pending, seed_google)


def preview(ex, **params):
    q = urllib.parse.urlencode(params)
    return ex.api.get(f"/v1/integrations/{ex.iid}/google-users" + (f"?{q}" if q else ""), key=ex.key)


def states(ex, **params):
    r = preview(ex, limit=100, **params)
    assert r.status_code == 200, r.text
    assert "next_cursor" not in r.json()
    return {u["primary_email"]: u for u in r.json()["items"]}


def directory_user(ex, uid, email, **more):
    """A directory user that is not bound to the integration."""
    body = {"email": email, "first_name": "Dir", "last_name": "User", "state": "active", **more}
    r = ex.api.request("PUT", f"/v1/users/{uid}", ex.key, json=body)
    assert r.status_code in (200, 201), r.text


def google_ids(ex):
    return {u["primaryEmail"]: u["id"] for u in ex.emu.ctl("GET", "state")["users"]}


def list_calls(ex, seq):
    return [r for r in ex.emu.requests_since(seq) if r.get("route") == "directory.users.list"]


def replica(ex, uid):
    r = ex.api.get(f"/v1/users/{uid}", key=ex.key)
    assert r.status_code == 200, r.text
    return r.json()


def imported_events(ex):
    """gws.user.imported events of this integration that reached Kafka (parsed as CloudEvents)."""
    out = []
    for line in consume_all("gwsync.events", "%s\n").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("type") == "gws.user.imported" and ev.get("integration") == ex.iid:
            out.append(ev)
    return out


def outbox_imported(ex):
    # events only: the dead-letter stream carries what the directory sent, JSON or not
    return h.sql(ex.db, "SELECT count(*) FROM outbox WHERE stream = 'events' AND "
                        "convert_from(payload, 'UTF8')::jsonb ->> 'type' = 'gws.user.imported'")[0][0]


SEED = [
    gu("lin@example.com", "Lin", "Linked"),
    gu("mp@example.com", "Matt", "Primary"),
    gu("ma@example.com", "Mia", "Alias", aliases=["mia.alias@example.com"]),
    gu("new@example.com", "Nina", "New",
       organizations=[{"name": "Acme Corp", "title": "Engineer", "department": "R&D", "primary": True}],
       locations=[{"type": "desk", "area": "desk", "buildingId": "HQ-1"}]),
    gu("sus@example.com", "Sue", "Suspended", suspended=True),
    gu("arc@example.com", "Archie", "Archived", archived=True, suspended=False),
]


def test_preview_states_and_no_query_param(ex):
    seed_google(ex.emu, SEED)
    ex.user("lin", "lin@example.com", "Lin", "Linked")  # bound: the export takes it over
    ex.idle()
    assert ex.link("lin")["status"] == "synced"
    directory_user(ex, "mp", "MP@example.com")            # matched by primary, not bound
    directory_user(ex, "ma", "mia.alias@example.com")     # matched by alias
    before = h.sql(ex.db, "SELECT count(*), max(version) FROM directory_users")[0]
    links_before = h.sql(ex.db, "SELECT count(*) FROM user_links")[0][0]
    seq = ex.seq()
    got = states(ex)
    want = {"lin@example.com": ("linked", "lin"), "mp@example.com": ("matched", "mp"),
            "ma@example.com": ("matched", "ma"), "new@example.com": ("new", None),
            "sus@example.com": ("inactive", None), "arc@example.com": ("inactive", None)}
    for email, (state, uid) in want.items():
        assert (got[email]["match_state"], got[email]["user_id"]) == (state, uid), got[email]
    assert got["ma@example.com"]["aliases"] == ["mia.alias@example.com"]
    assert got["arc@example.com"]["archived"] is True and got["arc@example.com"]["suspended"] is False
    assert got["new@example.com"]["name"] == {"given_name": "Nina", "family_name": "New"}
    # filtering by state may return short pages
    only_new = states(ex, match_state="new")
    assert "new@example.com" in only_new and all(u["match_state"] == "new" for u in only_new.values())
    # one users.list per request, by customer, with a projection, and no query parameter at all
    calls = list_calls(ex, seq)
    assert len(calls) == 2, calls
    for c in calls:
        params = urllib.parse.parse_qs(c["query"], keep_blank_values=True)
        assert params["customer"] == ["my_customer"] and "domain" not in params
        assert "query" not in params and "fields" in params and params["maxResults"] == ["100"]
    # the preview changes nothing
    assert ex.writes_since(seq) == []
    assert h.sql(ex.db, "SELECT count(*), max(version) FROM directory_users")[0] == before
    assert h.sql(ex.db, "SELECT count(*) FROM user_links")[0][0] == links_before
    h.assert_problem(preview(ex, match_state="bogus"), 400, "validation")
    h.assert_problem(preview(ex, limit=101), 400, "validation")


def test_preview_filter_paging_and_bad_query(ex):
    seed_google(ex.emu, [gu(f"pager{i}@example.com", "Pager", f"N{i}") for i in range(7)] +
                [gu("pager-s@example.com", "Pager", "S", suspended=True),
                 gu("pager-a@example.com", "Pager", "A", archived=True)])
    r = ex.api.request("PATCH", f"/v1/integrations/{ex.iid}", ex.key,
                       json={"settings": {"import_filter": "isArchived=false"}})
    assert r.status_code == 200, r.text
    seq = ex.seq()
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, "query": "givenName:Pager isSuspended=false"}
        if cursor:
            params["cursor"] = cursor
        r = preview(ex, **params)
        assert r.status_code == 200, r.text
        pages += 1
        seen += [u["primary_email"] for u in r.json()["items"]]
        cursor = r.json().get("next_cursor")
        if not cursor:
            break
    assert pages == 3 and sorted(seen) == sorted(f"pager{i}@example.com" for i in range(7))
    calls = list_calls(ex, seq)
    assert len(calls) == 3
    for c in calls:
        params = urllib.parse.parse_qs(c["query"])
        # the integration's filter and the caller's query together
        assert params["query"] == ["isArchived=false givenName:Pager isSuspended=false"], params
        assert params["maxResults"] == ["3"]
    # a query Google refuses: 400 quoting Google
    r = preview(ex, query="name:O'Brien")
    h.assert_problem(r, 400, "invalid-query")
    assert "Invalid Input: query" in r.json()["detail"]
    # an import filter Google refuses is not stored
    r = ex.api.request("PATCH", f"/v1/integrations/{ex.iid}", ex.key,
                       json={"settings": {"import_filter": "name:O'Brien"}})
    h.assert_problem(r, 400, "validation")
    errs = r.json()["errors"]
    assert errs[0]["pointer"] == "/settings/import_filter" and "Invalid Input: query" in errs[0]["detail"]
    got = ex.api.get(f"/v1/integrations/{ex.iid}", key=ex.key).json()
    assert got["settings"]["import_filter"] == "isArchived=false"
    checks = [c for c in list_calls(ex, seq) if "O'Brien" in urllib.parse.unquote(c["query"])]
    assert any(urllib.parse.parse_qs(c["query"]).get("maxResults") == ["1"] for c in checks)


def test_preview_google_unreachable_is_quick(ex):
    ex.emu.ctl("POST", "faults", {"route": "directory.users.list", "status": 503, "times": 1000})
    t0 = time.monotonic()
    r = preview(ex)
    h.assert_problem(r, 503, "google-unreachable")
    assert time.monotonic() - t0 < 20  # the retry policy alone would allow two minutes
    ex.emu.ctl("DELETE", "faults")


def test_google_404_on_the_listing_names_google_never_a_missing_integration(ex):
    """users.list answering 404 (e.g. Google no longer knows the customer) is Google's problem:
    the preview is a Google problem type, the import fails with an error that names Google."""
    seed_google(ex.emu, [gu("nf@example.com", "Not", "Found")])
    ex.emu.ctl("POST", "faults", {"route": "directory.users.list", "status": 404, "reason": "notFound",
                                  "message": "Resource Not Found: customer", "times": 1000})
    try:
        r = preview(ex)
        body = h.assert_problem(r, 502, "google-error")
        assert "integration" not in body["title"].lower(), body
        assert "Resource Not Found: customer" in r.text, body
        job = ex.job("import_users", all_new=True)
        assert job["status"] == "failed", job
        assert "Google" in job["error"] and "Resource Not Found: customer" in job["error"], job
        assert "no such integration" not in job["error"], job
    finally:
        ex.emu.ctl("DELETE", "faults")
    assert ex.api.get(f"/v1/integrations/{ex.iid}", key=ex.key).status_code == 200

def job_finished_event(ex, jid):
    rows = h.sql(ex.db, "SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' FROM outbox WHERE "
                        "stream = 'events' AND convert_from(payload, 'UTF8')::jsonb ->> 'type' = "
                        "'gws.job.finished' AND convert_from(payload, 'UTF8')::jsonb ->> 'subject' = %s", jid)
    assert len(rows) == 1, rows
    return rows[0][0]


def test_a_filter_google_refuses_fails_the_import_with_invalid_import_filter(pending):
    """Only an active integration's filter is tried on Google when set: one stored before the
    authorization may be refused later. The job fails with error_reason invalid_import_filter
    (API and gws.job.finished); so does Google's 400 on a listing with a filter Google accepted
    before; without a filter a 400 keeps Google's reason, there being no filter to blame."""
    ex = pending
    seed_google(ex.emu, [gu("flt@example.com", "Fil", "Ter")])
    ex.settings(import_filter="name:O'Brien")
    ex.authorize()
    ex.idle()
    job = ex.job("import_users", all_new=True)
    assert job["status"] == "failed", job
    assert job["error_reason"] == "invalid_import_filter", job
    assert job["error"].startswith("Google refused the import filter: ") and "Invalid Input: query" in job["error"], job
    h.assert_schema(job, "Job")
    ev = job_finished_event(ex, job["id"])
    assert (ev["status"], ev["error_reason"], ev["error"]) == ("failed", "invalid_import_filter", job["error"]), ev
    assert h.sql(ex.db, "SELECT count(*) FROM directory_users WHERE id LIKE %s", "google:%")[0][0] == 0
    # a filter Google took when it was set, refused now (the fault stands in for Google)
    ex.settings(import_filter="isArchived=false")
    ex.emu.ctl("POST", "faults", {"route": "directory.users.list", "status": 400, "reason": "invalid",
                                  "message": "Invalid Input: query", "times": 1000})
    try:
        job = ex.job("import_users", all_new=True)
        assert (job["status"], job["error_reason"]) == ("failed", "invalid_import_filter"), job
        ex.emu.ctl("DELETE", "faults")
        ex.settings(import_filter=None)
        ex.emu.ctl("POST", "faults", {"route": "directory.users.list", "status": 400, "reason": "invalid",
                                      "message": "Invalid Input: customer", "times": 1000})
        job = ex.job("import_users", all_new=True)
        assert (job["status"], job["error_reason"]) == ("failed", "invalid"), job
        assert "Invalid Input: customer" in job["error"] and "filter" not in job["error"], job
    finally:
        ex.emu.ctl("DELETE", "faults")
    # a job that did not fail has no reason
    job = ex.job("import_users", all_new=True)
    assert job["status"] == "succeeded" and job["error_reason"] is None and job["error"] is None, job
    assert job_finished_event(ex, job["id"])["error_reason"] is None


def test_import_chosen_all_new_updates_only_and_events(ex):
    seed_google(ex.emu, SEED + [gu("pick@example.com", "Pia", "Picked")])
    ex.rules(job_title="import", department="export")
    directory_user(ex, "mp", "mp@example.com")
    ex.idle()
    ids = google_ids(ex)
    # chosen users only
    job = ex.job("import_users", google_user_ids=[ids["pick@example.com"]])
    assert job["status"] == "succeeded" and job["counts"]["created"] == 1, job
    pick = replica(ex, "google:" + ids["pick@example.com"])
    assert pick["email"] == "pick@example.com" and pick["state"] == "staged"
    assert (pick["first_name"], pick["last_name"]) == ("Pia", "Picked")
    link = ex.link("google:" + ids["pick@example.com"])
    assert link["origin"] == "imported" and link["google_id"] == ids["pick@example.com"]
    assert h.sql(ex.db, "SELECT count(*) FROM user_bindings WHERE user_id = %s",
                 "google:" + ids["pick@example.com"])[0][0] == 1
    # all new, full mode: new ones created, the matched one linked, inactive ones never
    seq = ex.seq()
    job = ex.job("import_users", all_new=True)
    assert job["status"] == "succeeded", job
    items = ex.items(job["id"])
    assert items[ids["new@example.com"]]["outcome"] == "created"
    assert items[ids["mp@example.com"]]["outcome"] == "updated"
    assert items[ids["pick@example.com"]]["outcome"] == "unchanged"
    for gone in ("sus@example.com", "arc@example.com"):
        assert items[ids[gone]]["outcome"] == "skipped" and items[ids[gone]]["error"]["reason"] == "inactive"
    new = replica(ex, "google:" + ids["new@example.com"])
    assert new["job_title"] == "Engineer"           # rule import
    assert new["department"] is None                # rule export: never flows back
    assert (new["company"], new["location"]) == ("Acme Corp", "HQ-1")
    assert ex.link("mp")["origin"] == "imported" and ex.link("mp")["google_id"] == ids["mp@example.com"]
    users = {r[0] for r in h.sql(ex.db, "SELECT email FROM directory_users")}
    assert "sus@example.com" not in users and "arc@example.com" not in users
    assert ex.writes_since(seq) == []  # Google is only read
    # the events reach Kafka as CloudEvents, without a password
    evs = wait_until(lambda: (lambda e: e if len(e) >= 4 else None)(imported_events(ex)), timeout=60,
                     what="gws.user.imported on Kafka")
    by_user = {e["data"]["user_id"]: e for e in evs}
    ev = by_user["google:" + ids["new@example.com"]]
    assert ev["specversion"] == "1.0" and ev["source"] == "gwsync" and ev["tenant"]
    assert ev["data"]["created"] is True and ev["data"]["google_id"] == ids["new@example.com"]
    assert ev["data"]["attributes"]["job_title"] == "Engineer"
    assert ev["data"]["primary_email"] == "new@example.com" and ev["data"]["job_id"] == job["id"]
    assert ev["subject"] == "google:" + ids["new@example.com"]
    assert by_user["mp"]["data"]["created"] is False
    assert all("password" not in json.dumps(e) for e in evs)
    # a later full run (as the schedule queues it) creates nothing more
    job = ex.job("import_users", all_new=True)
    assert job["counts"]["created"] == 0 and job["counts"]["updated"] == 0, job
    # the widest import is asked for by name, never by leaving parameters out
    for body in ({"type": "import_users"}, {"type": "import_users", "parameters": {}},
                 {"type": "import_users", "parameters": {"mode": "full"}}):
        r = ex.api.post(f"/v1/integrations/{ex.iid}/jobs", key=ex.key, json=body)
        assert h.assert_problem(r, 400, "validation")["errors"][0]["pointer"] == "/parameters"
    # updates_only over an unchanged account: nothing changes, no event, one listing read
    events_before = outbox_imported(ex)
    seq = ex.seq()
    job = ex.job("import_users", mode="updates_only")
    assert job["status"] == "succeeded", job
    assert job["counts"]["created"] == 0 and job["counts"]["updated"] == 0, job
    assert outbox_imported(ex) == events_before
    reqs = [r for r in ex.emu.requests_since(seq) if r.get("route", "").startswith("directory.")]
    assert [r["route"] for r in reqs] == ["directory.users.list"], reqs
    assert "fields" in urllib.parse.parse_qs(reqs[0]["query"])
    # a change in Google reaches the replica; the export-only department stays
    h.sql(ex.db, "UPDATE directory_users SET department = 'Kept' WHERE id = %s",
          "google:" + ids["new@example.com"])
    google_call(ex.emu, "PUT", f"/admin/directory/v1/users/{ids['new@example.com']}",
                {"organizations": [{"name": "Acme Corp", "title": "Lead", "department": "Ops",
                                    "primary": True}]})
    job = ex.job("import_users", mode="updates_only")
    assert job["counts"]["updated"] == 1, job
    new = replica(ex, "google:" + ids["new@example.com"])
    assert new["job_title"] == "Lead" and new["department"] == "Kept"
    assert outbox_imported(ex) == events_before + 1
    # all_new with updates_only is refused
    r = ex.api.post(f"/v1/integrations/{ex.iid}/jobs", key=ex.key,
                    json={"type": "import_users", "parameters": {"all_new": True, "mode": "updates_only"}})
    h.assert_problem(r, 400, "validation")


def test_import_guard_dry_run_and_approval(ex):
    seed_google(ex.emu, [gu(f"g{i}@example.com", "G", str(i)) for i in range(3)])
    ex.idle()
    exports = "SELECT count(*) FROM jobs WHERE type = 'export_users'"
    before = h.sql(ex.db, exports)[0][0]
    ex.settings(import_guard={"max_count": 2})
    # the import guard is no export setting: no reconcile is queued for it
    assert h.sql(ex.db, exports)[0][0] == before
    job = ex.job("import_users", dry_run=True, all_new=True)
    assert job["status"] == "succeeded" and job["plan_summary"]["ops"]["create"] == 4, job  # + admin@
    assert h.sql(ex.db, "SELECT count(*) FROM directory_users")[0][0] == 0
    job = ex.job("import_users", all_new=True)
    assert job["status"] == "awaiting_approval", job
    plan = ex.api.get(f"/v1/jobs/{job['id']}/plan?limit=100", key=ex.key).json()["items"]
    assert sorted(p["op"] for p in plan) == ["create"] * 4
    assert all(p["user_id"] == "google:" + p["google_id"] for p in plan)
    assert h.sql(ex.db, "SELECT count(*) FROM directory_users")[0][0] == 0
    r = ex.api.post(f"/v1/jobs/{job['id']}/approve", key=ex.key)
    assert r.status_code == 202, r.text
    job = ex.wait(job["id"], until=("queued", "running", "awaiting_approval"))
    assert job["status"] == "succeeded" and job["counts"]["created"] == 4, job


def test_import_settings_alone_or_together_queue_no_export(ex):
    """A tester: changing import settings queued a full export reconcile. Whether one at a time
    or several in one PATCH (the guard with the filter passed both of the trigger's checks), no
    import setting is an export setting; an export setting in the same PATCH still queues one."""
    ex.idle()
    exports = "SELECT count(*) FROM jobs WHERE type = 'export_users'"
    before = h.sql(ex.db, exports)[0][0]
    for change in ({"import_filter": "isArchived=false"},
                   {"import_schedule": {"interval_minutes": 120, "mode": "updates_only"}},
                   {"import_guard": {"max_count": 5}},
                   {"import_guard": {"max_count": 6}, "import_filter": None},
                   {"import_guard": {"max_count": 7}, "import_schedule": {"interval_minutes": 240}},
                   {"import_filter": "isArchived=false", "import_guard": {"max_count": 8},
                    "import_schedule": {"enabled": True, "interval_minutes": 10080, "mode": "full"}}):
        ex.settings(**change)
        assert h.sql(ex.db, exports)[0][0] == before, change
    ex.settings(import_guard={"max_count": 9}, lockout_action="maintain")
    assert h.sql(ex.db, exports)[0][0] == before + 1


def test_identity_source_google(ex):
    seed_google(ex.emu, [gu("ida@example.com", "Ida", "Old"), gu("idb@example.com", "Ibo", "Old")])
    ex.user("ida", "ida@example.com", "Ida", "Old")
    ex.user("idb", "idb@example.com", "Ibo", "Old")
    ex.idle()
    ids = google_ids(ex)
    google_call(ex.emu, "PUT", f"/admin/directory/v1/users/{ids['ida@example.com']}",
                {"name": {"givenName": "Ida", "familyName": "New"}, "suspended": True})
    # identity_source directory (the default): names and suspension stay the directory's
    job = ex.job("import_users", mode="updates_only")
    assert job["counts"]["updated"] == 0, job
    assert replica(ex, "ida")["last_name"] == "Old" and replica(ex, "ida")["state"] == "active"
    # identity_source google: email, names and suspension come from Google
    ex.settings(identity_source="google")
    ex.idle()
    job = ex.job("import_users", mode="updates_only")
    assert job["counts"]["updated"] == 1 and job["counts"]["unchanged"] >= 1, job
    ida = replica(ex, "ida")
    assert ida["last_name"] == "New" and ida["state"] == "suspended"
    assert replica(ex, "idb")["last_name"] == "Old"


def test_a_suspension_left_to_google_is_reported_for_an_imported_user(ex):
    """identity_source google: unbinding an imported user (its link holds no digest of what
    Google has) reported nothing, no item and no plan entry (a tester). The targeted export reads
    the user and says the suspension was left alone; Google is not written."""
    ex.rules(state="export")
    seed_google(ex.emu, [gu("imp@example.com", "Imp", "Orted")])
    gid = google_ids(ex)["imp@example.com"]
    ex.settings(identity_source="google")
    ex.idle()
    job = ex.job("import_users", google_user_ids=[gid])
    assert job["counts"]["created"] == 1, job
    uid = "google:" + gid
    r = ex.api.request("PATCH", f"/v1/users/{uid}", ex.key, json={"state": "active"})
    assert r.status_code == 200, r.text
    ex.idle()
    seq = ex.seq()
    r = ex.api.request("DELETE", f"/v1/integrations/{ex.iid}/users/{uid}", ex.key)
    assert r.status_code == 204, r.text
    ex.idle()
    assert ex.writes_since(seq) == []
    assert ex.google()["imp@example.com"].get("suspended") is not True
    jobs = ex.api.get(f"/v1/integrations/{ex.iid}/jobs?type=export_users&limit=1", key=ex.key).json()["items"]
    item = ex.items(jobs[0]["id"])[uid]
    assert item["outcome"] == "unchanged" and item["error"]["reason"] == "identity_source_google", item
    assert "suspended" in item["error"]["message"], item
    plan = ex.api.get(f"/v1/jobs/{jobs[0]['id']}/plan", key=ex.key).json()["items"]
    assert [(p["user_id"], p["op"], p["reason"]) for p in plan] == [(uid, "none", "identity_source_google")], plan
    kept = {c["field"]: c for c in plan[0]["changes"]}
    assert kept["suspended"] == {"field": "suspended", "before": False, "after": True,
                                 "left_alone": "identity_source_google"}, kept


def test_preview_refusals_and_bad_input_are_problems(ex):
    """Google's refusals get their own problem types (never a 500), a bad page token blames the
    cursor, and a query that is not UTF-8 is refused before Google sees it."""
    seed_google(ex.emu, [gu("refuse@example.com", "Ref", "Use")])
    ex.emu.ctl("PUT", "config", {"sdkDisabled": True})
    try:
        r = preview(ex)
        v = ex.api.post(f"/v1/integrations/{ex.iid}/authorization/verify", key=ex.key)
        assert r.status_code == v.status_code and r.status_code in (403, 409), (r.text, v.text)
        assert r.json()["type"] == v.json()["type"], (r.text, v.text)
    finally:
        ex.emu.ctl("PUT", "config", {"sdkDisabled": False})
    ex.emu.ctl("POST", "faults", {"route": "directory.users.list", "status": 403, "reason": "forbidden",
                                  "times": 1000})
    try:
        r = preview(ex)
        assert 400 <= r.status_code < 600 and r.status_code != 500, r.text
        assert r.json()["type"] != "about:blank" and not r.json()["type"].endswith("/internal"), r.text
    finally:
        ex.emu.ctl("DELETE", "faults")
    r = preview(ex, cursor="garbage")
    body = h.assert_problem(r, 400, "invalid-query")
    assert body["errors"][0]["pointer"] == "/query/cursor", body
    seq = ex.seq()
    r = ex.api.get(f"/v1/integrations/{ex.iid}/google-users?query=%ff%fe", key=ex.key)
    body = h.assert_problem(r, 400, "validation")
    assert body["errors"][0]["pointer"] == "/query/query", body
    assert list_calls(ex, seq) == []


def test_import_names_a_google_user_once_however_often_it_is_listed(ex):
    seed_google(ex.emu, [gu("twice@example.com", "Two", "Times")])
    gid = google_ids(ex)["twice@example.com"]
    job = ex.job("import_users", google_user_ids=[gid, gid, "999", "999"])
    assert job["status"] == "succeeded", job
    assert job["counts"]["created"] == 1 and job["counts"]["skipped"] == 1, job
    assert replica(ex, f"google:{gid}")["email"] == "twice@example.com"


def test_chosen_ids_google_does_not_know_are_skipped_items_in_the_plan_and_the_progress(ex):
    seed_google(ex.emu, [gu("known@example.com", "Known", "One")])
    gid = google_ids(ex)["known@example.com"]
    job = ex.job("import_users", dry_run=True, google_user_ids=[gid, "999"])
    assert job["status"] == "succeeded", job
    assert job["plan_summary"]["ops"] == {"create": 1, "skip": 1}, job
    assert job["plan_summary"]["reasons"] == {"not_found_in_google": 1}, job
    assert job["progress"]["done"] == 2 and job["progress"]["total"] == 2, job
    plan = ex.api.get(f"/v1/jobs/{job['id']}/plan?limit=100", key=ex.key).json()["items"]
    absent = [p for p in plan if p["google_id"] == "999"]
    assert len(absent) == 1 and absent[0]["op"] == "skip", plan
    assert absent[0]["reason"] == "not_found_in_google", plan
    job = ex.job("import_users", google_user_ids=[gid, "999"])
    assert job["status"] == "succeeded", job
    assert job["counts"]["created"] == 1 and job["counts"]["skipped"] == 1, job
    assert job["progress"]["done"] == 2 and job["progress"]["total"] == 2, job
    items = ex.api.get(f"/v1/jobs/{job['id']}/items?limit=100", key=ex.key).json()["items"]
    skipped = [i for i in items if i["object_id"] == "999"]
    assert len(skipped) == 1 and skipped[0]["outcome"] == "skipped", items
    assert skipped[0]["error"]["reason"] == "not_found_in_google", items


CREATED_SQL = "SELECT count(*) FROM directory_users WHERE id LIKE 'google:%%'"


@contextlib.contextmanager
def slow_items(ex):
    """Each job item costs a millisecond while inside: a batch's items take a second, so a test can
    act while batches are being written (once users are seen created)."""
    h.sql(ex.db, "CREATE FUNCTION test_slow_item() RETURNS trigger LANGUAGE plpgsql AS "
                 "$$ BEGIN PERFORM pg_sleep(0.001); RETURN NULL; END $$")
    h.sql(ex.db, "CREATE TRIGGER test_slow_item AFTER INSERT ON job_items FOR EACH ROW "
                 "EXECUTE FUNCTION test_slow_item()")
    try:
        yield
    finally:
        h.sql(ex.db, "DROP TRIGGER test_slow_item ON job_items")
        h.sql(ex.db, "DROP FUNCTION test_slow_item()")


def import_until_created(ex, at_least):
    """Queues an all_new import and returns its job id once at_least users are created."""
    r = ex.api.post(f"/v1/integrations/{ex.iid}/jobs", key=ex.key,
                    json={"type": "import_users", "parameters": {"all_new": True}})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while h.sql(ex.db, CREATED_SQL)[0][0] < at_least:
        assert time.monotonic() < deadline, "the import did not write enough"
        time.sleep(0.02)
    return r.json()["id"]


def interrupted_import(ex, prefix, interrupt):
    """An all_new import of 2,500 users interrupted by interrupt() once it has written some, but
    not all: the job taken over (or retried) creates every remaining user once, and counts each as
    created; no replica user, binding, link, item or gws.user.imported event twice."""
    n = 2500
    seed_google(ex.emu, [gu(f"{prefix}{i:04d}@example.com", "Kil", f"L{i}") for i in range(n)])
    total = len(google_ids(ex))  # with the account's admin@
    ex.idle()
    ex.settings(import_guard={"max_count": 0})
    # the interruption lands while a batch records its outcomes, as it would between a batch's
    # writes and its items were they two transactions
    with slow_items(ex):
        jid = import_until_created(ex, 1)
        interrupt()
        at_interrupt = h.sql(ex.db, CREATED_SQL)[0][0]
        assert 0 < at_interrupt < total, at_interrupt  # interrupted mid-way
    return jid, total


def assert_imported_once(ex, jid, total):
    job = ex.wait(jid)
    assert job["status"] == "succeeded", (job.get("error"), job)
    # a batch's items commit with its writes: the resumed job counts every user it created as
    # created (none found "unchanged" because an earlier attempt wrote it without recording it)
    assert job["counts"]["created"] == total and job["counts"]["unchanged"] == 0, job["counts"]
    assert h.sql(ex.db, "SELECT count(*), count(DISTINCT object_id) FROM job_items WHERE job_id = %s",
                 jid) == [(total, total)]
    again = ex.job("import_users", all_new=True)
    assert again["status"] == "succeeded" and again["counts"]["created"] == 0, again
    kill = "LIKE 'google:%%'"
    assert h.sql(ex.db, "SELECT count(*), count(DISTINCT lower(email)) FROM directory_users "
                        f"WHERE id {kill}") == [(total, total)]
    assert h.sql(ex.db, "SELECT count(*), count(DISTINCT google_id) FROM user_links WHERE "
                        f"integration_id = %s AND user_id {kill}", ex.iid) == [(total, total)]
    assert h.sql(ex.db, f"SELECT count(*) FROM user_bindings WHERE integration_id = %s AND user_id {kill}",
                 ex.iid) == [(total,)]
    events = h.sql(ex.db, "SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'user_id' FROM outbox "
                          "WHERE stream = 'events' AND convert_from(payload, 'UTF8')::jsonb ->> 'type' = "
                          "'gws.user.imported'")
    subjects = [e[0] for e in events]
    assert len(subjects) == total and len(set(subjects)) == total, (len(subjects), len(set(subjects)))


def test_import_killed_mid_way_converges_on_rerun_without_duplicates(ex):
    import signal

    def kill():
        ex.worker.proc.send_signal(signal.SIGKILL)
        ex.worker.proc.wait()
    jid, total = interrupted_import(ex, "kill", kill)
    ex.start_worker()
    assert_imported_once(ex, jid, total)


def test_import_through_a_database_outage_counts_exactly(ex):
    """PostgreSQL stopped mid-import and started again: the job is not failed for it (a tester saw
    it fail when the outage was short) but runs again once its lease runs out, and converges; what
    the first attempt wrote it also recorded (the tester found 319 users written without their
    items, later counted "unchanged")."""

    def outage():
        h.services("stop", "pg")
        try:
            time.sleep(3)
        finally:
            h.services("start", "pg")
    jid, total = interrupted_import(ex, "pgo", outage)
    assert_imported_once(ex, jid, total)
    assert h.sql(ex.db, "SELECT attempts FROM jobs WHERE id = %s", jid)[0][0] == 2
    assert any(r.get("event") == "job_left_to_its_lease" for r in ex.worker.records)
def post_import(ex, params):
    return ex.api.post(f"/v1/integrations/{ex.iid}/jobs", key=ex.key,
                       json={"type": "import_users", "parameters": params})


def test_google_user_ids_are_googles_digit_ids_never_addresses(ex):
    """users.get takes an address as well as an id, so ["<id of nina>", "nina@example.com"]
    named one Google user twice and the job failed with a database error: google_user_ids are
    Google's immutable ids (1 to 64 digits), anything else a 400 naming the item."""
    seed_google(ex.emu, [gu("nina@example.com", "Nina", "New")])
    gid = google_ids(ex)["nina@example.com"]
    jobs = h.sql(ex.db, "SELECT count(*) FROM jobs")[0][0]
    for bad in ("nina@example.com", "a b", "\u00e9", "12a", "-1", " 1", "1" * 65, ""):
        body = h.assert_problem(post_import(ex, {"google_user_ids": [gid, bad]}), 400, "validation")
        errs = [x for x in body["errors"] if x["pointer"] == "/parameters/google_user_ids"]
        assert len(errs) == 1 and "item 1" in errs[0]["detail"], body
    assert h.sql(ex.db, "SELECT count(*) FROM jobs")[0][0] == jobs
    r = post_import(ex, {"google_user_ids": [gid, "9" * 64], "mode": "full"})
    assert r.status_code == 202, r.text


def test_a_google_user_read_twice_in_one_run_is_planned_once(ex):
    """A job naming one Google user under two names (queued before the API refused addresses)
    imports everyone once instead of failing on "ON CONFLICT DO UPDATE ... a second time"."""
    seed_google(ex.emu, [gu("nina@example.com", "Nina", "New"), gu("olaf@example.com", "Olaf", "Other")])
    g = google_ids(ex)
    params = {"google_user_ids": [g["nina@example.com"], "nina@example.com", g["olaf@example.com"]]}
    jid = h.sql(ex.db, "INSERT INTO jobs (tenant_id, integration_id, type, parameters, trigger) "
                       "SELECT tenant_id, id, 'import_users', %s::jsonb, 'api' FROM integrations "
                       "WHERE id = %s RETURNING id::text", json.dumps(params), ex.iid)[0][0]
    job = ex.wait(jid)
    assert job["status"] == "succeeded", job
    assert job["counts"]["created"] == 2 and job["counts"]["failed"] == 0, job
    for email in ("nina@example.com", "olaf@example.com"):
        assert replica(ex, f"google:{g[email]}")["email"] == email
    items = ex.api.get(f"/v1/jobs/{jid}/items?limit=100", key=ex.key).json()["items"]
    assert sorted(i["object_id"] for i in items) == sorted(
        g[e] for e in ("nina@example.com", "olaf@example.com")), items


def test_preview_query_follows_the_import_filter_rule(ex):
    """import_filter refuses control characters; the preview's query, which Google gets joined
    to it, passed them on (200). Both follow one rule; Google is not asked."""
    seed_google(ex.emu, [gu("q@example.com", "Q", "Query")])
    seq = ex.seq()
    for bad in ("a\nb", "a\tb", "x\x7f", "a\u0085b", "   ", "\ufdd0"):
        r = ex.api.request("PATCH", f"/v1/integrations/{ex.iid}", ex.key,
                           json={"settings": {"import_filter": bad}})
        h.assert_problem(r, 400, "validation")
        body = h.assert_problem(preview(ex, query=bad), 400, "validation")
        assert [x["pointer"] for x in body["errors"]] == ["/query/query"], body
    assert list_calls(ex, seq) == []
    assert preview(ex, query="givenName:Q").status_code == 200

def test_a_filter_or_query_of_2048_non_ascii_characters_is_never_a_500(ex):
    """The rule is 1–2,048 characters; 2,048 'é' (or 1,500) answered 500 "users.list: query too
    long" to PATCH import_filter and to the preview's query (the URL was cut at 8 KiB)."""
    seed_google(ex.emu, [gu("q@example.com", "Q", "Query")])
    for q in ("\u00e9" * 1500, "\u00e9" * 2048, "\U0001F600" * 2048):
        r = preview(ex, query=q)
        assert r.status_code < 500, r.text
        r = ex.api.request("PATCH", f"/v1/integrations/{ex.iid}", ex.key, json={"settings": {"import_filter": q}})
        assert r.status_code < 500, r.text


def test_deactivation_during_an_import_leaves_no_binding_and_no_live_link(ex):
    """Deactivate unbinds every user and releases every link; an import running across it went on
    and its later batches bound and linked 1,001 users of the deactivated integration (a tester)."""
    ex.emu.ctl("POST", "seed", {"users": 5000, "groups": 0, "membersPerGroup": 0})
    ex.idle()
    ex.settings(import_guard={"max_count": 0})
    with slow_items(ex):
        jid = import_until_created(ex, 2000)
        r = ex.api.post(f"/v1/integrations/{ex.iid}/deactivate", key=ex.key)
        assert r.status_code == 200, r.text
    job = ex.wait(jid)
    # Either the batches after the deactivation wrote nothing (the job stops, naming why), or the
    # deactivation waited for the whole import (the batches' locks on the integration row may
    # keep it waiting: PostgreSQL lets a share lock join others while a writer waits) and then
    # unbound and released all it wrote; never bindings or live links left behind.
    if job["status"] == "failed":
        assert job["error_reason"] == "integration_not_active", job
    else:
        assert job["status"] == "succeeded", job
    assert h.sql(ex.db, "SELECT count(*) FROM user_bindings WHERE integration_id = %s", ex.iid) == [(0,)]
    assert h.sql(ex.db, "SELECT count(*) FROM user_links WHERE integration_id = %s AND status <> 'released'",
                 ex.iid) == [(0,)]


def test_a_cancelled_import_shows_progress_of_what_it_recorded(ex):
    """A tester cancelled after two batches: counts.created 2,000 and 2,000 items, but
    progress.done 1,000 (the progress of the batches the other lane wrote was never recorded)."""
    ex.emu.ctl("POST", "seed", {"users": 10000, "groups": 0, "membersPerGroup": 0})
    ex.idle()
    ex.settings(import_guard={"max_count": 0})
    # slowed batches: the cancel lands mid-way (a fast import could end before it, and then
    # progress and items agree whatever the code does)
    with slow_items(ex):
        jid = import_until_created(ex, 1)
        assert ex.api.post(f"/v1/jobs/{jid}/cancel", key=ex.key).status_code == 202
        job = ex.wait(jid, until=("queued", "running", "cancelling"))
    assert job["status"] == "cancelled", job
    items = h.sql(ex.db, "SELECT count(*) FROM job_items WHERE job_id = %s", jid)[0][0]
    assert job["progress"]["done"] >= items, (job["progress"], items, job["counts"])
