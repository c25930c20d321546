"""Directory events in (CloudEvents on gwsync.directory-events) and gwsync's events out."""
import json
import os
import subprocess
import time
import uuid

import gwsync_harness as h
from test_jobs import Pipeline, FAST, sql, pipe  # noqa: F401  (fixture)

BROKERS = os.environ.get("GWSYNC_KAFKA_BROKERS", "")


def tenant_id(db):
    return sql(db, "SELECT id::text FROM tenants WHERE name = 'acme'")[0][0]


def event(tenant, type_, data, event_id=None):
    return {
        "specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "/platform/directory",
        "type": type_, "time": "2026-01-01T00:00:00Z", "subject": data.get("id"),
        "datacontenttype": "application/json", "tenant": tenant, "data": data,
    }


def produce(messages, topic="gwsync.directory-events"):
    """messages: (key, payload) pairs; payload dict or raw text. One kcat call for all."""
    lines = []
    for key, payload in messages:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        assert "\n" not in text and "\t" not in key
        lines.append(f"{key}\t{text}")
    subprocess.run(["kcat", "-P", "-b", BROKERS, "-t", topic, "-K", "\t"],
                   input=("\n".join(lines) + "\n").encode(), check=True, timeout=60)


def consume_all(topic, fmt="%h\t%s\n"):
    out = subprocess.run(["kcat", "-C", "-b", BROKERS, "-t", topic, "-o", "beginning", "-e", "-q",
                          "-f", fmt], capture_output=True, timeout=120, check=True)
    return out.stdout.decode("utf-8", "replace")


def wait_until(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        time.sleep(0.1)


def dead_letters(db, event_ids):
    """{event id: (reason, error)} of the dead letters in the outbox, once all of event_ids have one.
    Other tests' messages on the topic may be dead-lettered here too (even malformed ones)."""
    found = {}
    for payload, reason, error in sql(db, "SELECT convert_from(payload, 'UTF8'), headers ->> "
                                          "'gwsync-dlq-reason', headers ->> 'gwsync-dlq-error' "
                                          "FROM outbox WHERE stream = 'dlq'"):
        try:
            ev_id = json.loads(payload).get("id")
        except ValueError:
            continue
        if ev_id in event_ids:
            found[ev_id] = (reason, error)
    return found if len(found) == len(event_ids) else None


def make_users(pipe, n, prefix):
    for i in range(n):
        r = pipe.api.request("PUT", f"/v1/users/{prefix}{i}", key=pipe.editor,
                             json={"email": f"{prefix}{i}@example.com", "first_name": "U",
                                   "last_name": str(i), "state": "active"})
        assert r.status_code in (200, 201), r.text


def test_burst_of_100_events_coalesces_into_one_export_job(pipe):
    w = pipe.worker()
    iid = pipe.integration()
    tid = tenant_id(pipe.db)
    # Keep the integration busy so the export job stays queued while the burst arrives.
    blocker = pipe.job(iid, items=200, duration_ms=60000)
    pipe.wait_status(blocker["id"], {"running"})
    make_users(pipe, 100, "burst")
    produce([(iid, event(tid, "user.bound", {"id": f"burst{i}", "integration_id": iid})) for i in range(100)])
    rows = wait_until(lambda: (lambda r: r if r and len(r[0][1]) == 100 else None)(
        sql(pipe.db, "SELECT id::text, parameters -> 'user_ids', status, trigger FROM jobs "
                     "WHERE type = 'export_users'")), timeout=60, what="100 users in the export job")
    assert len(rows) == 1, rows
    _, user_ids, status, trigger = rows[0]
    assert status == "queued" and trigger == "directory_event"
    assert sorted(user_ids) == sorted(f"burst{i}" for i in range(100))
    assert sql(pipe.db, "SELECT count(*) FROM user_bindings WHERE integration_id = %s", (iid,))[0][0] == 100
    applied = [r for r in w.records if r.get("event") == "event_processed" and r.get("msg") == "applied"]
    assert len(applied) >= 100
    pipe.api.post(f"/v1/jobs/{blocker['id']}/cancel", key=pipe.editor)
    pipe.wait_status(blocker["id"], {"cancelled"})


def test_duplicate_event_is_applied_once(pipe):
    w = pipe.worker()
    tid = tenant_id(pipe.db)
    eid = str(uuid.uuid4())
    first = event(tid, "user.created", {"id": "dup1", "email": "dup1@example.com", "first_name": "First",
                                        "last_name": "L", "state": "active"}, eid)
    again = event(tid, "user.created", {"id": "dup1", "email": "dup1@example.com", "first_name": "Second",
                                        "last_name": "L", "state": "active"}, eid)
    produce([("dup1", first), ("dup1", again)])
    w.wait_for(lambda r: r.get("event") == "event_processed" and r.get("msg") == "duplicate"
               and r.get("id") == eid, timeout=60)
    user = pipe.api.get("/v1/users/dup1", key=pipe.editor).json()
    assert user["first_name"] == "First", user
    assert sql(pipe.db, "SELECT version FROM directory_users WHERE id = 'dup1'")[0][0] == 1
    assert sql(pipe.db, "SELECT count(*) FROM processed_events WHERE id = %s", (eid,))[0][0] == 1


def test_malformed_event_goes_to_dlq_and_next_is_applied(pipe):
    w = pipe.worker()
    tid = tenant_id(pipe.db)
    marker = uuid.uuid4().hex
    good = event(tid, "user.created", {"id": "after-bad", "email": "after@example.com", "state": "staged"})
    unknown = event(tid, "user.teleported", {"id": "x"})
    unknown["id"] = "unknown-" + marker
    secret = event(tid, "user.updated", {"id": "p1", "email": "p1@example.com", "state": "active",
                                         "password": "hunter2!!"})
    secret["id"] = "secret-" + marker
    produce([("k1", "{not json " + marker), ("k1", unknown), ("k1", secret), ("k1", good)])
    w.wait_for(lambda r: r.get("event") == "event_processed" and r.get("id") == good["id"], timeout=60)
    assert pipe.api.get("/v1/users/after-bad", key=pipe.editor).json()["state"] == "staged"
    assert pipe.api.get("/v1/users/p1", key=pipe.editor).status_code == 404

    def dlq_reasons():
        found = {}
        for line in consume_all("gwsync.directory-events.dlq").splitlines():
            if marker in line:
                headers, _, payload = line.partition("\t")
                hdrs = dict(kv.split("=", 1) for kv in headers.split(",") if "=" in kv)
                found[payload[:40]] = hdrs
        return found if len(found) == 3 else None
    found = wait_until(dlq_reasons, timeout=60, what="three dead letters")
    reasons = sorted(hd["gwsync-dlq-reason"] for hd in found.values())
    assert reasons == ["malformed_json", "password_not_allowed", "unknown_type"], found
    assert all(hd["gwsync-dlq-topic"] == "gwsync.directory-events" for hd in found.values())
    assert "hunter2" not in w.all_output()


def test_event_with_invalid_unicode_is_dead_lettered_naming_the_field(pipe):
    """REST refuses a lone surrogate with a 400; the same user as an event gets a dead letter
    (json-c alone would have stored U+FFFD)."""
    w = pipe.worker()
    tid = tenant_id(pipe.db)
    rule = "must be valid Unicode: UTF-8, and no unpaired surrogate (\\ud800-\\udfff)"
    bad = {
        "first_name": event(tid, "user.created", {"id": "uni1", "email": "uni1@example.com",
                                                  "first_name": "a\ud800", "state": "staged"}),
        "addresses/0/locality": event(tid, "user.created", {
            "id": "uni2", "email": "uni2@example.com", "state": "staged",
            "addresses": [{"type": "work", "locality": "\udc00x"}]}),
    }
    good = event(tid, "user.created", {"id": "uni3", "email": "uni3@example.com",
                                       "first_name": "\U0001F600", "state": "staged"})
    # json.dumps writes a lone surrogate as the escape \ud800, as a producer in another language would.
    produce([("k", e) for e in bad.values()] + [("k", good)])
    w.wait_for(lambda r: r.get("event") == "event_processed" and r.get("id") == good["id"], timeout=60)
    assert pipe.api.get("/v1/users/uni3", key=pipe.editor).json()["first_name"] == "\U0001F600"
    for uid in ("uni1", "uni2"):
        assert pipe.api.get(f"/v1/users/{uid}", key=pipe.editor).status_code == 404
    wanted = {e["id"]: ("invalid_data", f"{field} {rule}") for field, e in bad.items()}

    assert wait_until(lambda: dead_letters(pipe.db, wanted), timeout=60, what="dead letters") == wanted


def test_event_with_a_repeated_member_name_is_dead_lettered_naming_it(pipe):
    """REST refuses {"name":"a","name":"b"} with a 400; as an event it is a dead letter, never
    applied with the last value (json-c alone would keep it)."""
    w = pipe.worker()
    tid = tenant_id(pipe.db)
    rule = "must appear only once in its object"
    in_data = event(tid, "user.created", {"id": "dupname1", "email": "dupname1@example.com",
                                          "first_name": "A", "state": "staged"})
    text_in_data = json.dumps(in_data).replace('"first_name": "A"', '"first_name": "A", "first_name": "B"')
    in_envelope = event(tid, "user.created", {"id": "dupname2", "email": "dupname2@example.com",
                                              "state": "staged"})
    text_in_envelope = json.dumps(in_envelope)[:-1] + ', "type": "user.deleted"}'
    good = event(tid, "user.created", {"id": "dupname3", "email": "dupname3@example.com", "state": "staged"})
    produce([("k", text_in_data), ("k", text_in_envelope), ("k", good)])
    w.wait_for(lambda r: r.get("event") == "event_processed" and r.get("id") == good["id"], timeout=60)
    for uid in ("dupname1", "dupname2"):
        assert pipe.api.get(f"/v1/users/{uid}", key=pipe.editor).status_code == 404
    wanted = {in_data["id"]: ("invalid_data", f"first_name {rule}"),
              in_envelope["id"]: ("malformed_json", f"type {rule}")}
    assert wait_until(lambda: dead_letters(pipe.db, wanted), timeout=60, what="dead letters") == wanted


def test_data_the_replica_refuses_is_dead_lettered_with_a_documented_reason_and_no_sql(pipe):
    """An email another user or group holds is email_in_use naming the email; a reference to a
    user or group the replica lacks is rejected naming it. Never a SQLSTATE or the database's text."""
    w = pipe.worker()
    iid = pipe.integration()
    tid = tenant_id(pipe.db)
    make_users(pipe, 2, "held")  # held0@, held1@
    r = pipe.api.request("PUT", "/v1/groups/team", key=pipe.editor,
                         json={"name": "Team", "email": "team@example.com"})
    assert r.status_code in (200, 201), r.text
    user = {"state": "active", "first_name": "F", "last_name": "L"}
    taken_new = event(tid, "user.created", {"id": "taker", "email": "HELD0@example.com", **user})
    taken_upd = event(tid, "user.updated", {"id": "held1", "email": "held0@example.com", **user})
    group_taken = event(tid, "group.created", {"id": "team2", "name": "Team 2", "email": "Team@example.com"})
    no_manager = event(tid, "user.created", {"id": "mgr1", "email": "mgr1@example.com",
                                             "manager_id": "nobody", **user})
    no_user = event(tid, "user.bound", {"id": "ghost", "integration_id": iid})
    no_member = event(tid, "group.member_added", {"id": "team", "user_id": "ghost"})
    good = event(tid, "user.created", {"id": "after-refusals", "email": "after-refusals@example.com", **user})
    bad = [taken_new, taken_upd, group_taken, no_manager, no_user, no_member]
    produce([("k", e) for e in bad + [good]])
    w.wait_for(lambda r: r.get("event") == "event_processed" and r.get("id") == good["id"], timeout=60)
    wanted = {
        taken_new["id"]: ("email_in_use", "email HELD0@example.com is in use by another directory user of the tenant"),
        taken_upd["id"]: ("email_in_use", "email held0@example.com is in use by another directory user of the tenant"),
        group_taken["id"]: ("email_in_use", "email Team@example.com is in use by another directory group of the tenant"),
        no_manager["id"]: ("rejected", "manager_id nobody names no user of the tenant"),
        no_user["id"]: ("rejected", "unknown user ghost"),
        no_member["id"]: ("rejected", "unknown group team or user ghost"),
    }
    assert wait_until(lambda: dead_letters(pipe.db, wanted), timeout=60, what="dead letters") == wanted
    # the replica is as it was
    assert pipe.api.get("/v1/users/taker", key=pipe.editor).status_code == 404
    assert pipe.api.get("/v1/users/held1", key=pipe.editor).json()["email"] == "held1@example.com"
    assert pipe.api.get("/v1/groups/team2", key=pipe.editor).status_code == 404
    assert pipe.api.get("/v1/users/mgr1", key=pipe.editor).status_code == 404
    # the headers Kafka carries say the same

    def on_kafka():
        found = {}
        for line in consume_all("gwsync.directory-events.dlq").splitlines():
            headers, _, payload = line.partition("\t")
            ids = [e["id"] for e in bad if e["id"] in payload]
            if ids:
                found[ids[0]] = dict(kv.split("=", 1) for kv in headers.split(",") if "=" in kv)
        return found if len(found) == len(bad) else None
    for ev_id, hdrs in wait_until(on_kafka, timeout=60, what="dead letters on Kafka").items():
        assert (hdrs["gwsync-dlq-reason"], hdrs["gwsync-dlq-error"]) == wanted[ev_id], hdrs


def test_directory_events_change_the_replica(pipe):
    w = pipe.worker()
    iid = pipe.integration()
    tid = tenant_id(pipe.db)
    evs = [
        event(tid, "user.created", {"id": "u1", "email": "u1@example.com", "first_name": "A", "state": "active"}),
        event(tid, "group.created", {"id": "g1", "name": "Team", "email": "team@example.com"}),
        event(tid, "group.bound", {"id": "g1", "integration_id": iid}),
        event(tid, "group.member_added", {"id": "g1", "user_id": "u1"}),
        event(tid, "user.state_changed", {"id": "u1", "state": "suspended"}),
        event(tid, "user.locked", {"id": "u1"}),
    ]
    produce([("u1", e) for e in evs])
    last = evs[-1]["id"]
    w.wait_for(lambda r: r.get("event") == "event_processed" and r.get("id") == last, timeout=60)
    assert pipe.api.get("/v1/users/u1", key=pipe.editor).json()["state"] == "suspended"
    members = pipe.api.get("/v1/groups/g1/members", key=pipe.editor).json()["items"]
    assert [m["user_id"] for m in members] == ["u1"]
    jobs = dict(sql(pipe.db, "SELECT type, parameters::text FROM jobs WHERE integration_id = %s", (iid,)))
    assert '"u1"' in jobs["export_users"] and '"g1"' in jobs["sync_groups"]
    produce([("u1", event(tid, "user.deleted", {"id": "u1"}))])
    wait_until(lambda: pipe.api.get("/v1/users/u1", key=pipe.editor).status_code == 404, what="user deleted")


def test_published_events_parse_as_cloudevents(pipe):
    pipe.worker()
    iid = pipe.integration()  # the status change to active is an event too
    tid = tenant_id(pipe.db)
    job = pipe.job(iid, items=1, duration_ms=10)
    pipe.wait_status(job["id"], {"succeeded"})

    def mine():
        evs = []
        for line in consume_all("gwsync.events", "%s\n").splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("tenant") == tid:
                evs.append(ev)
        types = {e["type"] for e in evs}
        return evs if {"gws.job.finished", "gws.integration.status_changed"} <= types else None
    evs = wait_until(mine, timeout=60, what="gwsync events on Kafka")
    for ev in evs:
        assert ev["specversion"] == "1.0" and ev["source"] == "gwsync"
        assert ev["datacontenttype"] == "application/json"
        for attr in ("id", "type", "time", "subject", "tenant", "integration", "data"):
            assert ev.get(attr), (attr, ev)
        assert ev["integration"] == iid
        assert "secret" not in json.dumps(ev)
    fin = next(e for e in evs if e["type"] == "gws.job.finished")
    assert fin["subject"] == job["id"] and fin["data"]["status"] == "succeeded"
    assert fin["data"]["counts"]["created"] == 1
    st = next(e for e in evs if e["type"] == "gws.integration.status_changed")
    assert st["data"]["previous_status"] == "pending_authorization" and st["data"]["status"] == "active"
    # The jobs topic carries only the job's name.
    announcements = [json.loads(l) for l in consume_all("gwsync.jobs", "%s\n").splitlines()
                     if job["id"] in l]
    assert announcements and set(announcements[0]) == {"job_id", "integration_id", "tenant_id"}


# What the platform may hold but Google refuses (the planner reports it per object), and what no
# directory holds: the replica takes and refuses the same on REST and on directory events.
ACCEPTED_USERS = {
    "long-name": {"email": "long@example.com", "first_name": "x" * 61, "last_name": "L"},
    "angle": {"email": "angle@example.com", "first_name": "<b>=x", "last_name": "L"},
    "abuse": {"email": "abuse@example.com", "first_name": "A", "last_name": "B"},
    "plus": {"email": "ada+tag@example.com", "first_name": "A", "last_name": "B"},
    "reach": {"email": "reach@example.com", "first_name": "A", "last_name": "B",
              "phones": [{"type": "work", "value": "+1 (555) 010-0000"}],
              "addresses": [{"type": "home", "street_address": "1 Main St\nFlat 2", "postal_code": "12345"}]},
}
REFUSED_USERS = {
    "dots": ({"email": "two..dots@example.com", "first_name": "A", "last_name": "B"}, "email",
             "must not have a period at the start or end of the local part, or two in a row"),
    "space": ({"email": "a b@example.com", "first_name": "A", "last_name": "B"}, "email",
              "must have a local part of letters, digits and !#$%&'*+/=?^_`{|}~.-"),
    "long": ({"email": "l@example.com", "first_name": "x" * 256, "last_name": "B"}, "first_name",
             "must be at most 255 characters"),
    "ctl": ({"email": "c@example.com", "first_name": "A", "last_name": "B", "job_title": "a\u0007b"},
            "job_title", "must not contain control characters"),
    "phone": ({"email": "p@example.com", "first_name": "A", "last_name": "B",
               "phones": [{"type": "pager", "value": "123"}]},
              "phones/0/type", "must be one of home, mobile, other, work, work_fax, work_mobile"),
    "zip": ({"email": "z@example.com", "first_name": "A", "last_name": "B",
             "addresses": [{"type": "home", "postal_code": "1" * 33}]},
            "addresses/0/postal_code", "must be at most 32 characters"),
}
ACCEPTED_GROUPS = {"g-long": {"name": "g" * 74, "email": "abuse@groups.example.com"}}
REFUSED_GROUPS = {
    "g-bad": ({"name": "G", "email": "two..dots@example.com"}, "email",
              "must not have a period at the start or end of the local part, or two in a row"),
    "g-name": ({"name": "g" * 256}, "name", "must be at most 255 characters"),
}


def other_domain(body):
    """The same body with its email in another domain (emails are unique per tenant)."""
    return {**body, "email": body["email"].replace("@", "@ev.")} if "email" in body else body


def test_rest_and_events_take_and_refuse_the_same_users_and_groups(pipe):
    """Issue 10 item 10: one validation on both paths, for users and groups."""
    w = pipe.worker()
    tid = tenant_id(pipe.db)
    for uid, body in ACCEPTED_USERS.items():
        r = pipe.api.request("PUT", f"/v1/users/rest-{uid}", key=pipe.editor, json=body)
        assert r.status_code == 201, r.text
    for gid, body in ACCEPTED_GROUPS.items():
        r = pipe.api.request("PUT", f"/v1/groups/rest-{gid}", key=pipe.editor, json=body)
        assert r.status_code == 201, r.text
    for uid, (body, field, detail) in REFUSED_USERS.items():
        p = h.assert_problem(pipe.api.request("PUT", f"/v1/users/rest-{uid}", key=pipe.editor, json=body), 400)
        assert {"pointer": f"/{field}", "detail": detail} in p["errors"], p
    for gid, (body, field, detail) in REFUSED_GROUPS.items():
        p = h.assert_problem(pipe.api.request("PUT", f"/v1/groups/rest-{gid}", key=pipe.editor, json=body), 400)
        assert {"pointer": f"/{field}", "detail": detail} in p["errors"], p

    evs = [event(tid, "user.created", {"id": f"ev-{uid}", "state": "staged", **other_domain(body)})
           for uid, body in ACCEPTED_USERS.items()]
    evs += [event(tid, "group.created", {"id": f"ev-{gid}", **other_domain(body)})
            for gid, body in ACCEPTED_GROUPS.items()]
    refused = {}
    for uid, (body, field, detail) in REFUSED_USERS.items():
        ev = event(tid, "user.created", {"id": f"ev-{uid}", "state": "staged", **body})
        refused[ev["id"]] = f"{field} {detail}"
        evs.append(ev)
    for gid, (body, field, detail) in REFUSED_GROUPS.items():
        ev = event(tid, "group.created", {"id": f"ev-{gid}", **body})
        refused[ev["id"]] = f"{field} {detail}"
        evs.append(ev)
    produce([("k", e) for e in evs])
    last = evs[len(ACCEPTED_USERS) + len(ACCEPTED_GROUPS) - 1]["id"]
    w.wait_for(lambda r: r.get("event") == "event_processed" and r.get("id") == last, timeout=60)
    for uid, body in ACCEPTED_USERS.items():
        got = pipe.api.get(f"/v1/users/ev-{uid}", key=pipe.editor).json()
        assert (got["email"], got["first_name"]) == (other_domain(body)["email"], body["first_name"]), got
        # The very user an event brought can be written back through REST unchanged.
        r = pipe.api.request("PUT", f"/v1/users/ev-{uid}", key=pipe.editor, json=other_domain(body))
        assert r.status_code == 200, r.text
    for gid, body in ACCEPTED_GROUPS.items():
        assert pipe.api.get(f"/v1/groups/ev-{gid}", key=pipe.editor).json()["name"] == body["name"]

    found = wait_until(lambda: dead_letters(pipe.db, refused), timeout=60, what="dead letters")
    assert found == {i: ("invalid_data", why) for i, why in refused.items()}, found
    for uid in REFUSED_USERS:
        assert pipe.api.get(f"/v1/users/ev-{uid}", key=pipe.editor).status_code == 404
