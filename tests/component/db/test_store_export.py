"""db/store_export.c, the export engine's side of the store, driven through build/export_tool
against a real PostgreSQL: the scope walk, link writes under the job's lease with their event in
the outbox, releasing links, stored plans, the deletion guard's window."""
import json
import os
import subprocess

import pytest

import gwsync_harness as h

TOOL = os.path.join(os.environ.get("GWSYNC_TEST_TOOLS", "build"), "export_tool")


def sql(db, statement, *args):
    return h.sql(db, statement, *args)


def tool(db, *args):
    p = subprocess.run([TOOL, h.database_url(db), *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def tool_fails(db, *args):
    p = subprocess.run([TOOL, h.database_url(db), *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stdout
    return p.stderr


def one(db, *args):
    rows = tool(db, *args)
    assert len(rows) == 1, rows
    return rows[0]


def spec(*fields):
    return "|".join("~" if f is None else str(f) for f in fields)


def link(user, status, google_id=None, email=None, origin=None, hashes=None, digest=None,
         reason=None, message=None, synced=False, event=None, data=None):
    return spec(user, status, google_id, email, origin, hashes, digest, reason, message,
                "t" if synced else "f", event, data)


@pytest.fixture
def world(db):
    """A tenant with an active integration (and another one), users, a bound group, links."""
    tid = sql(db, "INSERT INTO tenants (name) VALUES ('acme') RETURNING id::text")[0][0]
    iid = sql(db, "INSERT INTO integrations (tenant_id, name, status) VALUES (%s, 'w', 'active') "
                  "RETURNING id::text", tid)[0][0]
    other = sql(db, "INSERT INTO integrations (tenant_id, name, status) VALUES (%s, 'o', 'active') "
                    "RETURNING id::text", tid)[0][0]
    for u in ["u1", "u2", "u3", "u4", "u6", "u7", "u8", "u9"]:
        sql(db, "INSERT INTO directory_users (tenant_id, id, email, first_name, state) "
                "VALUES (%s, %s, %s, %s, 'active')", tid, u, u + "@example.com", u.upper())
    sql(db, "UPDATE directory_users SET password_hash = '$6$salt$x', password_hash_function = 'crypt', "
            "department = 'R&D', phones = '[{\"type\": \"work\", \"value\": \"123\"}]', "
            "locked_at = now() WHERE id = 'u1'")
    sql(db, "INSERT INTO directory_groups (tenant_id, id, name) VALUES (%s, 'g1', 'G')", tid)
    sql(db, "INSERT INTO group_members (tenant_id, group_id, user_id) VALUES (%s, 'g1', 'u2'), "
            "(%s, 'g1', 'u3')", tid, tid)
    sql(db, "INSERT INTO group_bindings (tenant_id, integration_id, group_id) VALUES (%s, %s, 'g1')", tid, iid)
    sql(db, "INSERT INTO user_bindings (tenant_id, integration_id, user_id) VALUES (%s, %s, 'u1'), "
            "(%s, %s, 'u3'), (%s, %s, 'u7'), (%s, %s, 'u9')", tid, iid, tid, iid, tid, iid, tid, other)
    sql(db, "DELETE FROM user_bindings WHERE user_id = 'u9' AND integration_id = %s", iid)
    for user, status in [("u4", "synced"), ("u5", "suspended"), ("u6", "released"), ("u7", "released")]:
        sql(db, "INSERT INTO user_links (tenant_id, integration_id, user_id, google_id, primary_email, "
                "status, origin) VALUES (%s, %s, %s, %s, %s, %s, 'linked')",
            tid, iid, user, "G-" + user, user + "@corp.example", status)
    job = sql(db, "INSERT INTO jobs (tenant_id, integration_id, type, status, lease_owner, lease_expires_at) "
                  "VALUES (%s, %s, 'export_users', 'running', 'w1', now() + interval '1 minute') "
                  "RETURNING id::text", tid, iid)[0][0]
    return {"db": db, "tid": tid, "iid": iid, "other": other, "job": job}


def test_scope_direct_group_unbound_deleted_and_released(world):
    db, tid, iid = world["db"], world["tid"], world["iid"]
    rows = tool(db, "scope", tid, iid)
    by = {r["user_id"]: r for r in rows}
    # ordered by user id; u6 (unbound, released), u8 (nothing), u9 (other integration) are not there
    assert [r["user_id"] for r in rows] == ["u1", "u2", "u3", "u4", "u5", "u7"]
    assert by["u1"]["in_scope"] and by["u1"]["bound_direct"] and by["u1"]["exists"]
    assert by["u1"]["has_password"] and by["u1"]["password_hash_function"] == "crypt"
    assert by["u1"]["department"] == "R&D" and json.loads(by["u1"]["phones"]) == [{"type": "work", "value": "123"}]
    assert by["u1"]["locked"] and not by["u1"]["password_expired"]
    assert by["u1"]["version"] == 1 and by["u1"]["link_status"] == "" and by["u1"]["field_hashes"] == "{}"
    assert by["u2"]["in_scope"] and not by["u2"]["bound_direct"] and not by["u2"]["has_password"]
    assert json.loads(by["u2"]["addresses"]) == []
    assert by["u3"]["in_scope"] and by["u3"]["bound_direct"]  # directly and through g1: one row
    # unbound but linked: out of scope, its link shown
    assert not by["u4"]["in_scope"] and by["u4"]["exists"] and by["u4"]["google_id"] == "G-u4"
    assert by["u4"]["link_status"] == "synced" and by["u4"]["link_origin"] == "linked"
    # deleted from the directory but linked
    assert not by["u5"]["exists"] and not by["u5"]["in_scope"] and by["u5"]["version"] == 0
    assert by["u5"]["email"] == "" and by["u5"]["google_id"] == "G-u5"
    # in scope again after a release: the released link comes with it (match again by id)
    assert by["u7"]["in_scope"] and by["u7"]["link_status"] == "released" and by["u7"]["google_id"] == "G-u7"


def test_scope_of_chosen_users_and_errors(world):
    db, tid, iid = world["db"], world["tid"], world["iid"]
    assert [r["user_id"] for r in tool(db, "scope", tid, iid, "u5", "u6", "u2", "u8", 'we"ird')] == ["u2", "u5"]
    assert [r["user_id"] for r in tool(db, "scope", tid, world["other"])] == ["u9"]
    assert "(not_found)" in tool_fails(db, "scope", tid, "00000000-0000-0000-0000-000000000000")
    other_tenant = sql(db, "INSERT INTO tenants (name) VALUES ('b') RETURNING id::text")[0][0]
    assert "(not_found)" in tool_fails(db, "scope", other_tenant, iid)


def test_scope_walks_many_users_in_fetches(world):
    db, tid, iid = world["db"], world["tid"], world["iid"]
    sql(db, "INSERT INTO directory_users (tenant_id, id, email) SELECT %s, 'm' || lpad(i::text, 5, '0'), "
            "'m' || i || '@example.com' FROM generate_series(1, 1600) i", tid)
    sql(db, "INSERT INTO group_members (tenant_id, group_id, user_id) SELECT %s, 'g1', id FROM "
            "directory_users WHERE id LIKE 'm%%'", tid)
    ids = [r["user_id"] for r in tool(db, "scope", tid, iid)]
    assert len(ids) == 1606 and ids == sorted(ids) and len(set(ids)) == len(ids)


def outbox_events(db):
    return [json.loads(bytes(p).decode()) for (p,) in
            sql(db, "SELECT payload FROM outbox WHERE stream = 'events' ORDER BY id")]


def test_link_writes_under_the_lease_with_their_event(world):
    db, tid, iid, job = world["db"], world["tid"], world["iid"], world["job"]
    assert one(db, "links-write", tid, iid, job, "w1",
               link("u1", "synced", "G-1", "u1@corp.example", "provisioned", '{"name.givenName": "aa"}',
                    "d1", synced=True, event="gws.user.provisioned", data='{"user_id": "u1", "google_id": "G-1"}'),
               link("u2", "creating", email="u2@corp.example", reason="x", message="y")) == {"written": 2}
    ev = outbox_events(db)
    assert len(ev) == 1 and ev[0]["type"] == "gws.user.provisioned" and ev[0]["subject"] == "u1"
    assert ev[0]["tenant"] == tid and ev[0]["integration"] == iid and ev[0]["data"]["google_id"] == "G-1"
    assert sql(db, "SELECT key FROM outbox WHERE stream = 'events'") == [(iid,)]
    row = sql(db, "SELECT google_id, primary_email, status, origin, field_hashes, password_digest, "
                  "last_synced_at IS NOT NULL FROM user_links WHERE user_id = 'u1'")[0]
    assert row == ("G-1", "u1@corp.example", "synced", "provisioned", {"name.givenName": "aa"}, "d1", True)
    assert sql(db, "SELECT status, last_error_reason, last_error_message, last_synced_at FROM user_links "
                   "WHERE user_id = 'u2'") == [("creating", "x", "y", None)]
    # NULL keeps, hashes merge key by key, the error is replaced (cleared)
    one(db, "links-write", tid, iid, job, "w1",
        link("u1", "failed", hashes='{"name.familyName": "bb", "name.givenName": "cc"}', reason="r"),
        link("u2", "synced", "G-2"))
    row = sql(db, "SELECT google_id, primary_email, status, origin, field_hashes, password_digest, "
                  "last_error_reason FROM user_links WHERE user_id = 'u1'")[0]
    assert row == ("G-1", "u1@corp.example", "failed", "provisioned",
                   {"name.givenName": "cc", "name.familyName": "bb"}, "d1", "r")
    assert sql(db, "SELECT google_id, last_error_reason FROM user_links WHERE user_id = 'u2'") == [("G-2", None)]
    assert len(outbox_events(db)) == 1
    scope = {r["user_id"]: r for r in tool(db, "scope", tid, iid, "u1")}
    assert json.loads(scope["u1"]["field_hashes"]) == {"name.givenName": "cc", "name.familyName": "bb"}
    assert scope["u1"]["password_digest"] == "d1" and scope["u1"]["link_error_reason"] == "r"


def test_link_writes_need_the_lease(world):
    db, tid, iid, job = world["db"], world["tid"], world["iid"], world["job"]
    before = sql(db, "SELECT count(*) FROM user_links")[0][0]
    w = link("u1", "synced", "G-1", event="gws.user.linked", data="{}")
    assert "(not_found)" in tool_fails(db, "links-write", tid, iid, job, "w2", w)
    assert "(not_found)" in tool_fails(db, "links-write", tid, world["other"], job, "w1", w)
    sql(db, "UPDATE jobs SET status = 'queued', lease_owner = 'w1' WHERE id = %s", job)
    assert "(not_found)" in tool_fails(db, "links-write", tid, iid, job, "w1", w)
    assert sql(db, "SELECT count(*) FROM user_links")[0][0] == before and outbox_events(db) == []


def test_link_google_id_conflict_writes_nothing(world):
    db, tid, iid, job = world["db"], world["tid"], world["iid"], world["job"]
    err = tool_fails(db, "links-write", tid, iid, job, "w1",
                     link("u1", "synced", "G-new", event="gws.user.linked", data="{}"),
                     link("u2", "synced", "G-u4"))  # u4's Google user
    assert "(conflict)" in err and "G-u4" in err
    assert sql(db, "SELECT count(*) FROM user_links WHERE user_id IN ('u1', 'u2')")[0][0] == 0
    assert outbox_events(db) == []
    # a released link keeps its Google id: another user matching it is a conflict (it may be
    # the suspended account of someone who left)
    err = tool_fails(db, "links-write", tid, iid, job, "w1", link("u2", "synced", "G-u6", origin="linked"))
    assert "(conflict)" in err and "G-u6" in err
    assert sql(db, "SELECT user_id, google_id, status FROM user_links WHERE user_id IN ('u2', 'u6') "
                   "ORDER BY user_id") == [("u6", "G-u6", "released")]
    assert "(invalid)" in tool_fails(db, "links-write", tid, iid, job, "w1", link("u1", "bogus"))
    assert "(invalid)" in tool_fails(db, "links-write", tid, iid, job, "w1",
                                     link("u1", "synced", origin="stolen"))


def test_release_links(world):
    db, tid, iid = world["db"], world["tid"], world["iid"]
    assert one(db, "links-release", tid, iid) == {"released": 2}  # u4, u5 (u6, u7 were already)
    assert one(db, "links-release", tid, iid) == {"released": 0}
    assert sql(db, "SELECT DISTINCT status FROM user_links") == [("released",)]
    assert sql(db, "SELECT count(*) FROM user_links WHERE google_id IS NOT NULL")[0][0] == 4
    assert [r["user_id"] for r in tool(db, "scope", tid, iid)] == ["u1", "u2", "u3", "u7"]
    assert "(not_found)" in tool_fails(db, "links-release", tid, "00000000-0000-0000-0000-000000000000")


def test_plan_append_page_summary(world):
    db, tid, job = world["db"], world["tid"], world["job"]
    entries = [spec(i, "update", f"u{i}", f"G-{i}", f"u{i}@corp.example", None,
                    json.dumps([{"field": "name.givenName", "before": "a", "after": "b"}]), 7)
               for i in range(1, 6)]
    assert one(db, "plan-append", job, "w1", *entries[:3]) == {"appended": 3}
    one(db, "plan-append", job, "w1", *entries[3:],
        spec(0, "skip", "u9", None, None, "staged", "[]", 1))  # seq 0: the next one (6)
    page = one(db, "plan-page", tid, job, "0", "2")
    assert page["n"] == 2 and [e["seq"] for e in page["items"]] == [1, 2]
    assert page["items"][0] == {"seq": 1, "op": "update", "user_id": "u1", "google_id": "G-1",
                                "primary_email": "u1@corp.example", "reason": None,
                                "changes": [{"field": "name.givenName", "before": "a", "after": "b"}]}
    page = one(db, "plan-page", tid, job, "4", "10")
    assert [e["seq"] for e in page["items"]] == [5, 6] and page["items"][1]["reason"] == "staged"
    assert page["items"][1]["google_id"] is None and page["items"][1]["changes"] == []
    assert one(db, "plan-page", tid, job, "6", "10") == {"n": 0, "items": []}
    # a resumed run writes the same seq again: replaced, not doubled
    one(db, "plan-append", job, "w1", spec(1, "suspend", "u1", "G-1", None, None, "[]", 8))
    assert one(db, "plan-page", tid, job, "0", "1")["items"][0]["op"] == "suspend"
    assert sql(db, "SELECT count(*), max(user_version) FROM job_plan_entries") == [(6, 8)]
    assert one(db, "plan-summary", job, "w1", '{"ops": {"update": 4}}') == {"ok": True}
    assert sql(db, "SELECT plan_summary FROM jobs WHERE id = %s", job) == [({"ops": {"update": 4}},)]
    # only the lease holder writes; only the tenant reads
    assert "(not_found)" in tool_fails(db, "plan-append", job, "w2", entries[0])
    assert "(not_found)" in tool_fails(db, "plan-summary", job, "w2", "{}")
    assert "(invalid)" in tool_fails(db, "plan-append", job, "w1", spec(9, "update", "u1", None, None, None, "{}", 0))
    other = sql(db, "INSERT INTO tenants (name) VALUES ('b') RETURNING id::text")[0][0]
    assert "(not_found)" in tool_fails(db, "plan-page", other, job, "0", "5")


def test_guard_window_and_linked_count(world):
    db, tid, iid = world["db"], world["tid"], world["iid"]
    assert one(db, "guard-counts", iid, "3600") == {"recent": 0, "linked": 2}  # u4, u5
    one(db, "guard-record", tid, iid, "3")
    one(db, "guard-record", tid, iid, "2")
    sql(db, "INSERT INTO deletion_guard_writes (tenant_id, integration_id, applied_at, count) "
            "VALUES (%s, %s, now() - interval '2 hours', 40)", tid, iid)
    assert one(db, "guard-counts", iid, "3600") == {"recent": 5, "linked": 2}
    assert one(db, "guard-counts", iid, "10800") == {"recent": 45, "linked": 2}
    assert one(db, "guard-counts", world["other"], "3600") == {"recent": 0, "linked": 0}
    assert "(not_found)" in tool_fails(db, "guard-record", tid, "00000000-0000-0000-0000-000000000000", "1")


def test_await_approval(world):
    db, job = world["db"], world["job"]
    assert "(not_found)" in tool_fails(db, "await-approval", job, "w2")
    assert one(db, "await-approval", job, "w1") == {"ok": True}
    assert sql(db, "SELECT status, lease_owner, lease_expires_at FROM jobs WHERE id = %s", job) == [
        ("awaiting_approval", None, None)]
    assert "(not_found)" in tool_fails(db, "await-approval", job, "w1")
