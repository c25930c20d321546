"""Adoption of an imported user (issue 14, item 3) by the platform's later user.created.

An import creates replica users with id "google:<Google id>" (bound, linked with origin
imported). Here such a user is written in SQL as a stand-in for the import; then the platform's
user.created arrives over Kafka with its own id and the same email.
"""
import json

import gwsync_harness as h
from test_events import event, produce, tenant_id, wait_until
from test_jobs import pipe, sql  # noqa: F401  (fixture)


def dead_letters(db, *events):
    """Dead letters of these events (other tests' messages on the topic may land here too)."""
    ids = {e["id"] for e in events}
    found = []
    for payload, error in sql(db, "SELECT convert_from(payload, 'UTF8'), headers ->> 'gwsync-dlq-error' "
                                  "FROM outbox WHERE stream = 'dlq'"):
        try:
            ev_id = json.loads(payload).get("id")
        except (ValueError, AttributeError):
            continue
        if ev_id in ids:
            found.append(error)
    return found


def test_user_created_adopts_the_imported_user_with_links_bindings_and_groups(pipe):
    w = pipe.worker()
    iid = pipe.integration()
    tid = tenant_id(pipe.db)
    other_key = h.create_key(pipe.db, "other", "editor")
    assert other_key
    other = sql(pipe.db, "SELECT id::text FROM tenants WHERE name = 'other'")[0][0]
    for tenant, uid in ((tid, "google:1001"), (other, "google:1001")):
        sql(pipe.db, "INSERT INTO directory_users (tenant_id, id, email, first_name, last_name, state) "
                     "VALUES (%s, %s, 'Ada@Example.com', 'Ada', 'Lovelace', 'staged')", (tenant, uid))
    sql(pipe.db, "INSERT INTO directory_users (tenant_id, id, email, manager_id) VALUES "
                 "(%s, 'report', 'report@example.com', 'google:1001')", (tid,))
    sql(pipe.db, "INSERT INTO user_bindings (tenant_id, integration_id, user_id) VALUES (%s, %s, 'google:1001')",
        (tid, iid))
    sql(pipe.db, "INSERT INTO user_links (tenant_id, integration_id, user_id, google_id, primary_email, status, "
                 "origin) VALUES (%s, %s, 'google:1001', '1001', 'ada@example.com', 'synced', 'imported')",
        (tid, iid))
    r = pipe.api.request("PUT", "/v1/groups/team", key=pipe.editor, json={"name": "Team"})
    assert r.status_code in (200, 201), r.text
    sql(pipe.db, "INSERT INTO group_members (tenant_id, group_id, user_id) VALUES (%s, 'team', 'google:1001')",
        (tid,))
    sql(pipe.db, "INSERT INTO group_bindings (tenant_id, integration_id, group_id) VALUES (%s, %s, 'team')",
        (tid, iid))

    ev = event(tid, "user.created", {"id": "p-ada", "email": "ada@example.com", "first_name": "Ada",
                                     "last_name": "King", "state": "active"})
    produce([("p-ada", ev)])
    rec = w.wait_for(lambda r: r.get("event") == "event_processed" and r.get("id") == ev["id"], timeout=60)
    assert rec["msg"] == "adopted", rec

    user = pipe.api.get("/v1/users/p-ada", key=pipe.editor)
    assert user.status_code == 200, user.text
    assert user.json()["state"] == "active" and user.json()["last_name"] == "King"
    assert sql(pipe.db, "SELECT id FROM directory_users WHERE tenant_id = %s AND lower(email) = 'ada@example.com'",
               (tid,)) == [("p-ada",)]
    assert sql(pipe.db, "SELECT user_id FROM user_bindings WHERE integration_id = %s", (iid,)) == [("p-ada",)]
    assert sql(pipe.db, "SELECT user_id, google_id, origin, status FROM user_links WHERE integration_id = %s",
               (iid,)) == [("p-ada", "1001", "imported", "synced")]
    assert sql(pipe.db, "SELECT user_id FROM group_members WHERE tenant_id = %s AND group_id = 'team'",
               (tid,)) == [("p-ada",)]
    assert sql(pipe.db, "SELECT manager_id FROM directory_users WHERE tenant_id = %s AND id = 'report'",
               (tid,)) == [("p-ada",)]
    link = pipe.api.get(f"/v1/integrations/{iid}/users/p-ada", key=pipe.editor)
    assert link.status_code == 200 and link.json()["link"]["google_id"] == "1001", link.text
    members = pipe.api.get("/v1/groups/team/members", key=pipe.editor).json()["items"]
    assert [m["user_id"] for m in members] == ["p-ada"]
    # another tenant's imported user with that email is none of this event's business
    assert sql(pipe.db, "SELECT id FROM directory_users WHERE tenant_id = %s", (other,)) == [("google:1001",)]
    # the adopted user's export is queued under its new id
    params = sql(pipe.db, "SELECT parameters FROM jobs WHERE integration_id = %s AND type = 'export_users'", (iid,))
    assert any("p-ada" in (p.get("user_ids") or []) for (p,) in params), params
    assert dead_letters(pipe.db, ev) == []

    # the same event again changes nothing; a later user.updated applies to the adopted user
    produce([("p-ada", ev)])
    upd = event(tid, "user.updated", {"id": "p-ada", "email": "ada@example.com", "first_name": "Augusta",
                                      "last_name": "King", "state": "active"})
    produce([("p-ada", upd)])
    w.wait_for(lambda r: r.get("event") == "event_processed" and r.get("id") == upd["id"], timeout=60)
    # (the API's read cache learns of the change by notification, milliseconds later)
    wait_until(lambda: pipe.api.get("/v1/users/p-ada", key=pipe.editor).json()["first_name"] == "Augusta",
               what="the update applied")
    assert sql(pipe.db, "SELECT count(*) FROM directory_users WHERE tenant_id = %s", (tid,)) == [(2,)]
    assert dead_letters(pipe.db, ev, upd) == []


def test_only_imported_users_are_adopted(pipe):
    """A user the platform created (not google:) keeps its email: the clash is a dead letter as before."""
    w = pipe.worker()
    tid = tenant_id(pipe.db)
    r = pipe.api.request("PUT", "/v1/users/bob", key=pipe.editor,
                         json={"email": "bob@example.com", "first_name": "Bob", "last_name": "B", "state": "active"})
    assert r.status_code in (200, 201), r.text
    ev = event(tid, "user.created", {"id": "bob2", "email": "BOB@example.com", "state": "active"})
    produce([("bob2", ev)])
    found = wait_until(lambda: dead_letters(pipe.db, ev), timeout=60, what="a dead letter")
    assert "email" in found[0], found
    assert sql(pipe.db, "SELECT id FROM directory_users WHERE tenant_id = %s", (tid,)) == [("bob",)]
    assert w
