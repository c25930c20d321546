"""The API side of the user export engine, through the real binary: a job's stored plan, approval
and cancellation of guarded jobs and dry runs, one user's link, links released by deactivation,
and the export work every REST change queues in its own transaction (one coalesced job).

No worker runs here: jobs are read from the database as queued."""
import pytest

import gwsync_harness as h

NO_ID = "00000000-0000-0000-0000-000000000000"


def sql(db, statement, *args):
    return h.sql(db, statement, *args)


class Ctx:
    def __init__(self, db, api):
        self.db = db
        self.api = api
        self.ed = h.create_key(db, "acme", "editor")
        self.rd = h.create_key(db, "acme", "reader")
        self.tid = sql(db, "SELECT id::text FROM tenants WHERE name = 'acme'")[0][0]
        self.key_id = sql(db, "SELECT id::text FROM api_keys WHERE role = 'editor'")[0][0]

    def req(self, method, path, body=None, key=None):
        return self.api.request(method, path, key or self.ed, json=body)

    def integration(self, name="Acme", status="active"):
        r = self.req("POST", "/v1/integrations", {"name": name})
        assert r.status_code == 201, r.text
        iid = r.json()["id"]
        sql(self.db, "UPDATE integrations SET status = %s WHERE id = %s", status, iid)
        return iid

    def user(self, uid, **more):
        body = {"email": f"{uid}@example.com", "first_name": uid.upper(), "last_name": "L",
                "state": "active", **more}
        r = self.req("PUT", f"/v1/users/{uid}", body)
        assert r.status_code in (200, 201), r.text
        return body

    def job(self, iid, status, dry_run=False, params="{}", key=None):
        return sql(self.db, "INSERT INTO jobs (tenant_id, integration_id, type, parameters, dry_run, status, "
                            "coalesce_key) VALUES (%s, %s, 'export_users', %s, %s, %s, %s) RETURNING id::text",
                   self.tid, iid, params, dry_run, status, key)[0][0]

    def export_jobs(self, iid):
        """Queued export jobs of the integration: (coalesce_key, parameters, trigger, requested_by)."""
        return sql(self.db, "SELECT coalesce_key, parameters, trigger, requested_by::text FROM jobs "
                            "WHERE integration_id = %s AND type = 'export_users' AND status = 'queued' "
                            "ORDER BY seq", iid)

    def queued_users(self, iid):
        jobs = [j for j in self.export_jobs(iid) if j[0] == "directory_export"]
        assert len(jobs) <= 1, jobs
        return sorted(jobs[0][1]["user_ids"]) if jobs else []

    def clear_jobs(self):
        sql(self.db, "DELETE FROM jobs")


@pytest.fixture
def ctx(db, api):
    return Ctx(db, api)


# ---- plans ----

def test_plan_pages_and_summary(ctx):
    iid = ctx.integration()
    jid = ctx.job(iid, "succeeded", dry_run=True)
    sql(ctx.db, "UPDATE jobs SET plan_summary = '{\"ops\": {\"update\": 4, \"skip\": 1}, \"reasons\": "
                "{\"staged\": 1}}' WHERE id = %s", jid)
    sql(ctx.db, "INSERT INTO job_plan_entries (job_id, seq, tenant_id, op, user_id, google_id, primary_email, "
                "reason, changes) SELECT %s, i, %s, CASE WHEN i = 5 THEN 'skip' ELSE 'update' END, 'u' || i, "
                "CASE WHEN i < 5 THEN 'G' || i END, 'u' || i || '@corp.example', CASE WHEN i = 5 THEN 'staged' END, "
                "CASE WHEN i = 1 THEN '[{\"field\": \"password\", \"before\": null, \"after\": null, "
                "\"changed\": true}, {\"field\": \"name.givenName\", \"before\": \"A\", \"after\": \"B\"}]' "
                "ELSE '[]' END::jsonb FROM generate_series(1, 5) i", jid, ctx.tid)
    seen = []
    cursor = None
    for _ in range(4):
        r = ctx.api.get(f"/v1/jobs/{jid}/plan", key=ctx.rd,
                        params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        for item in body["items"]:
            h.assert_schema(item, "PlanEntry")
        seen += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert [e["seq"] for e in seen] == [1, 2, 3, 4, 5]
    assert seen[0]["changes"][0] == {"field": "password", "before": None, "after": None, "changed": True}
    assert seen[4] == {"seq": 5, "op": "skip", "user_id": "u5", "google_id": None,
                       "primary_email": "u5@corp.example", "reason": "staged", "changes": []}
    job = h.assert_schema(ctx.api.get(f"/v1/jobs/{jid}", key=ctx.rd).json(), "Job")
    assert job["plan_summary"] == {"ops": {"update": 4, "skip": 1}, "reasons": {"staged": 1}}
    other = ctx.job(iid, "queued")
    listed = {j["id"]: j for j in ctx.api.get(f"/v1/integrations/{iid}/jobs", key=ctx.rd).json()["items"]}
    assert listed[jid]["plan_summary"]["ops"]["skip"] == 1 and listed[other]["plan_summary"] is None
    assert ctx.api.get(f"/v1/jobs/{other}/plan", key=ctx.rd).json() == {"items": []}
    h.assert_problem(ctx.api.get(f"/v1/jobs/{jid}/plan", key=ctx.rd, params={"cursor": "!!"}), 400)
    h.assert_problem(ctx.api.get(f"/v1/jobs/{jid}/plan", key=ctx.rd, params={"limit": 0}), 400)
    h.assert_problem(ctx.api.get(f"/v1/jobs/{NO_ID}/plan", key=ctx.rd), 404)
    h.assert_problem(ctx.api.get("/v1/jobs/nope/plan", key=ctx.rd), 404)
    globex = h.create_key(ctx.db, "globex", "reader")
    h.assert_problem(ctx.api.get(f"/v1/jobs/{jid}/plan", key=globex), 404)


# ---- approve and cancel ----

def test_approve_a_guarded_job_queues_it_again(ctx):
    iid = ctx.integration()
    jid = ctx.job(iid, "awaiting_approval", params='{"user_ids": ["u1"]}', key="directory_export")
    ctx.job(iid, "queued", params='{"user_ids": ["u2"]}', key="directory_export")  # a later burst
    announced = sql(ctx.db, "SELECT count(*) FROM outbox WHERE stream = 'jobs'")[0][0]
    h.assert_problem(ctx.req("POST", f"/v1/jobs/{jid}/approve", key=ctx.rd), 403)
    r = ctx.req("POST", f"/v1/jobs/{jid}/approve")
    assert r.status_code == 202, r.text
    job = h.assert_schema(r.json(), "Job")
    assert job["id"] == jid and job["status"] == "queued" and r.headers["Location"] == f"/v1/jobs/{jid}"
    assert job["parameters"] == {"user_ids": ["u1"], "approved": True}
    # announced again; no longer extended by later changes
    assert sql(ctx.db, "SELECT count(*) FROM outbox WHERE stream = 'jobs'")[0][0] == announced + 1
    assert sql(ctx.db, "SELECT coalesce_key FROM jobs WHERE id = %s", jid) == [(None,)]
    h.assert_problem(ctx.req("POST", f"/v1/jobs/{jid}/approve"), 409)


def test_approve_a_finished_dry_run_queues_the_apply_job(ctx):
    iid = ctx.integration()
    dry = ctx.job(iid, "partially_failed", dry_run=True, params='{"user_ids": ["u1", "u2"]}')
    r = ctx.req("POST", f"/v1/jobs/{dry}/approve")
    assert r.status_code == 202, r.text
    job = h.assert_schema(r.json(), "Job")
    assert job["id"] != dry and r.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["dry_run"] is False and job["type"] == "export_users"
    assert job["parameters"] == {"user_ids": ["u1", "u2"], "approved_plan": dry}
    assert job["requested_by"] == ctx.key_id and job["trigger"] == "api"
    assert ctx.api.get(f"/v1/jobs/{dry}", key=ctx.rd).json()["status"] == "partially_failed"
    # anything else is a conflict
    for status, dry_run in [("succeeded", False), ("running", True), ("queued", True), ("failed", True),
                            ("cancelled", True)]:
        other = ctx.job(iid, status, dry_run=dry_run)
        h.assert_problem(ctx.req("POST", f"/v1/jobs/{other}/approve"), 409, "conflict")
    h.assert_problem(ctx.req("POST", f"/v1/jobs/{NO_ID}/approve"), 404)
    sql(ctx.db, "UPDATE integrations SET status = 'reauthorization_required' WHERE id = %s", iid)
    h.assert_problem(ctx.req("POST", f"/v1/jobs/{dry}/approve"), 409, "integration-not-active")


def test_cancel_a_job_awaiting_approval(ctx):
    iid = ctx.integration()
    jid = ctx.job(iid, "awaiting_approval")
    r = ctx.req("POST", f"/v1/jobs/{jid}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["finished_at"]
    h.assert_problem(ctx.req("POST", f"/v1/jobs/{jid}/approve"), 409)
    h.assert_problem(ctx.req("POST", f"/v1/jobs/{jid}/cancel"), 409)


# ---- one user's link ----

def test_user_link_route(ctx):
    iid = ctx.integration()
    for u in ["u1", "u2", "u4", "u5"]:
        ctx.user(u)
    ctx.req("PUT", "/v1/groups/g1", {"name": "G"})
    assert ctx.req("PUT", "/v1/groups/g1/members/u2").status_code in (200, 201)
    assert ctx.req("PUT", f"/v1/integrations/{iid}/groups/g1").status_code == 201
    assert ctx.req("PUT", f"/v1/integrations/{iid}/users/u1").status_code == 201
    sql(ctx.db, "INSERT INTO user_links (tenant_id, integration_id, user_id, google_id, primary_email, status, "
                "origin, last_error_reason, last_error_message, last_synced_at) VALUES "
                "(%s, %s, 'u1', 'G1', 'u1@corp.example', 'synced', 'provisioned', NULL, NULL, now()), "
                "(%s, %s, 'u4', 'G4', 'u4@corp.example', 'suspended', 'linked', NULL, NULL, now()), "
                "(%s, %s, 'gone', 'G9', 'gone@corp.example', 'failed', 'linked', 'userNotFound', 'gone', NULL)",
        ctx.tid, iid, ctx.tid, iid, ctx.tid, iid)
    u1 = h.assert_schema(ctx.api.get(f"/v1/integrations/{iid}/users/u1", key=ctx.rd).json(), "BoundUser")
    assert u1["bound_via"][0]["type"] == "direct" and u1["email"] == "u1@example.com"
    assert u1["link"]["origin"] == "provisioned" and u1["link"]["google_id"] == "G1" and u1["link"]["last_synced_at"]
    u2 = h.assert_schema(ctx.api.get(f"/v1/integrations/{iid}/users/u2", key=ctx.rd).json(), "BoundUser")
    assert u2["bound_via"][0]["group_id"] == "g1" and u2["link"] == {
        "status": "pending", "google_id": None, "primary_email": None, "last_error": None,
        "last_synced_at": None, "origin": None}
    # unbound but linked
    u4 = h.assert_schema(ctx.api.get(f"/v1/integrations/{iid}/users/u4", key=ctx.rd).json(), "BoundUser")
    assert u4["bound_via"] == [] and u4["state"] == "active" and u4["link"]["status"] == "suspended"
    # deleted from the directory, still linked
    gone = h.assert_schema(ctx.api.get(f"/v1/integrations/{iid}/users/gone", key=ctx.rd).json(), "BoundUser")
    assert gone["state"] == "deleted" and gone["email"] == "gone@corp.example" and gone["bound_via"] == []
    assert gone["link"]["last_error"] == {"reason": "userNotFound", "message": "gone"}
    # neither bound nor linked; bad ids; other integration
    h.assert_problem(ctx.api.get(f"/v1/integrations/{iid}/users/u5", key=ctx.rd), 404, "not-found")
    h.assert_problem(ctx.api.get(f"/v1/integrations/{iid}/users/b%20ad", key=ctx.rd), 404)
    h.assert_problem(ctx.api.get(f"/v1/integrations/{NO_ID}/users/u1", key=ctx.rd), 404)
    # the list shows the origin and filters by the new statuses
    items = ctx.api.get(f"/v1/integrations/{iid}/users", key=ctx.rd).json()["items"]
    assert {i["user_id"]: i["link"]["origin"] for i in items} == {"u1": "provisioned", "u2": None}
    assert ctx.api.get(f"/v1/integrations/{iid}/users", key=ctx.rd, params={"status": "released"}).json() == {"items": []}
    h.assert_problem(ctx.api.get(f"/v1/integrations/{iid}/users", key=ctx.rd, params={"status": "x"}), 400)
    # deactivation releases every link and keeps its Google id
    ctx.clear_jobs()
    assert ctx.req("POST", f"/v1/integrations/{iid}/deactivate").status_code == 200
    assert sql(ctx.db, "SELECT DISTINCT status FROM user_links") == [("released",)]
    assert sql(ctx.db, "SELECT count(*) FROM user_links WHERE google_id IS NOT NULL")[0][0] == 3
    u1 = ctx.api.get(f"/v1/integrations/{iid}/users/u1", key=ctx.rd).json()
    assert u1["bound_via"] == [] and u1["link"]["status"] == "released" and u1["link"]["google_id"] == "G1"
    assert ctx.export_jobs(iid) == []


# ---- export work queued by REST changes ----

def test_user_changes_queue_one_coalesced_job(ctx):
    iid = ctx.integration()
    idle = ctx.integration("Idle", status="pending_authorization")
    for u in ["u1", "u2", "u3", "u4"]:
        ctx.user(u)
    ctx.req("PUT", "/v1/groups/g1", {"name": "G"})
    ctx.req("PUT", "/v1/groups/g1/members/u2")
    ctx.req("PUT", f"/v1/integrations/{iid}/users/u1")
    ctx.req("PUT", f"/v1/integrations/{iid}/groups/g1")
    ctx.req("PUT", f"/v1/integrations/{idle}/users/u3")
    ctx.clear_jobs()

    body = ctx.user("u1", department="Ops")  # PUT of a bound user
    assert ctx.queued_users(iid) == ["u1"]
    ctx.user("u1", department="Ops")  # the same again: nothing changed, nothing queued
    assert ctx.req("PATCH", "/v1/users/u1", {"job_title": "Boss"}).status_code == 200
    assert ctx.req("PATCH", "/v1/users/u2", {"first_name": "Bee"}).status_code == 200  # through g1
    assert ctx.req("POST", "/v1/users/u1/password", {"password": "correct horse"}).status_code == 200
    jobs = ctx.export_jobs(iid)
    assert len(jobs) == 1, jobs
    key, params, trigger, requested_by = jobs[0]
    assert key == "directory_export" and sorted(params["user_ids"]) == ["u1", "u2"]
    assert trigger == "api" and requested_by == ctx.key_id
    # changes of users not bound to an active integration queue nothing
    ctx.req("PATCH", "/v1/users/u3", {"first_name": "Cee"})
    ctx.req("PATCH", "/v1/users/u4", {"first_name": "Dee"})
    assert ctx.export_jobs(idle) == [] and ctx.queued_users(iid) == ["u1", "u2"]
    # the password is never in the job
    assert "correct horse" not in str(ctx.export_jobs(iid)) and body


def test_password_change_alone_queues_the_user(ctx):
    iid = ctx.integration()
    ctx.user("u1")
    ctx.req("PUT", f"/v1/integrations/{iid}/users/u1")
    ctx.clear_jobs()
    assert ctx.req("POST", "/v1/users/u1/password", {"password": "correct horse"}).status_code == 200
    assert ctx.queued_users(iid) == ["u1"]


def test_binding_changes_queue_the_users_concerned(ctx):
    iid = ctx.integration()
    for u in ["u1", "u2", "u3", "u4"]:
        ctx.user(u)
    ctx.req("PUT", "/v1/groups/g1", {"name": "G"})
    for u in ["u2", "u3"]:
        ctx.req("PUT", f"/v1/groups/g1/members/{u}")
    ctx.clear_jobs()
    steps = [
        (("PUT", f"/v1/integrations/{iid}/users/u1"), ["u1"]),
        (("DELETE", f"/v1/integrations/{iid}/users/u1"), ["u1"]),
        (("PUT", f"/v1/integrations/{iid}/groups/g1"), ["u2", "u3"]),
        (("PUT", "/v1/groups/g1/members/u4"), ["u4"]),
        (("DELETE", "/v1/groups/g1/members/u2"), ["u2"]),
        (("DELETE", f"/v1/integrations/{iid}/groups/g1"), ["u3", "u4"]),
    ]
    for (method, path), users in steps:
        r = ctx.req(method, path)
        assert r.status_code in (200, 201, 204), (path, r.text)
        assert ctx.queued_users(iid) == users, (method, path)
        ctx.clear_jobs()
    # and all into one job while it waits (u2 left g1 above; u4 is a member already)
    for (method, path), _ in steps:
        ctx.req(method, path)
    assert ctx.queued_users(iid) == ["u1", "u3", "u4"] and len(ctx.export_jobs(iid)) == 1


def test_deletes_queue_the_users_concerned(ctx):
    iid = ctx.integration()
    for u in ["u1", "u2", "u3", "boss"]:
        ctx.user(u)
    ctx.req("PATCH", "/v1/users/u3", {"manager_id": "boss"})
    ctx.req("PUT", "/v1/groups/g1", {"name": "G"})
    ctx.req("PUT", "/v1/groups/g1/members/u2")
    ctx.req("PUT", f"/v1/integrations/{iid}/users/u1")
    ctx.req("PUT", f"/v1/integrations/{iid}/users/u3")
    ctx.req("PUT", f"/v1/integrations/{iid}/groups/g1")
    ctx.clear_jobs()
    assert ctx.req("DELETE", "/v1/users/u1").status_code == 204
    assert ctx.queued_users(iid) == ["u1"]
    ctx.clear_jobs()
    assert ctx.req("DELETE", "/v1/groups/g1").status_code == 204
    assert ctx.queued_users(iid) == ["u2"]
    ctx.clear_jobs()
    # deleting a manager changes the reports' manager: they are queued
    assert ctx.req("DELETE", "/v1/users/boss").status_code == 204
    assert ctx.queued_users(iid) == ["u3"]


def test_configuration_changes_queue_one_full_reconcile(ctx):
    iid = ctx.integration()
    ctx.clear_jobs()
    r = ctx.api.get(f"/v1/integrations/{iid}/attribute-rules", key=ctx.ed)
    assert ctx.api.request("PUT", f"/v1/integrations/{iid}/attribute-rules", ctx.ed,
                           json={"rules": {"job_title": "export", "department": "export"}},
                           headers={"If-Match": r.headers["ETag"]}).status_code == 200
    assert ctx.req("POST", f"/v1/integrations/{iid}/domains", {"domain": "corp.example"}).status_code == 201
    r = ctx.req("PATCH", f"/v1/integrations/{iid}", {"settings": {"default_domain": "corp.example"}})
    assert r.status_code == 200, r.text
    jobs = ctx.export_jobs(iid)
    assert [(j[0], j[1]) for j in jobs] == [("export_reconcile", {})], jobs
    assert jobs[0][2] == "api"
    ctx.clear_jobs()
    for change in [{"settings": {"lockout_action": "maintain"}}, {"settings": {"deletion_guard": {"max_count": 3}}}]:
        assert ctx.req("PATCH", f"/v1/integrations/{iid}", change).status_code == 200
        assert [j[0] for j in ctx.export_jobs(iid)] == ["export_reconcile"], change
        ctx.clear_jobs()
    assert ctx.req("DELETE", f"/v1/integrations/{iid}/domains/other.example").status_code == 404
    assert ctx.req("POST", f"/v1/integrations/{iid}/domains", {"domain": "b.example"}).status_code == 201
    assert ctx.req("DELETE", f"/v1/integrations/{iid}/domains/b.example").status_code == 204
    assert len(ctx.export_jobs(iid)) == 1
    ctx.clear_jobs()
    # the name and the import schedule are not export settings; an inactive integration queues nothing
    assert ctx.req("PATCH", f"/v1/integrations/{iid}", {"name": "Renamed"}).status_code == 200
    assert ctx.req("PATCH", f"/v1/integrations/{iid}",
                   {"settings": {"import_schedule": {"enabled": True}}}).status_code == 200
    assert ctx.export_jobs(iid) == []
    idle = ctx.integration("Idle", status="pending_authorization")
    assert ctx.req("POST", f"/v1/integrations/{idle}/domains", {"domain": "c.example"}).status_code == 201
    assert ctx.export_jobs(idle) == []
