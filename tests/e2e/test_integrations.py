"""Integrations, domains, attribute rules, bindings and audit through the real binary."""
import re


import gwsync_harness as h

UUID0 = "00000000-0000-0000-0000-000000000000"


def sql(db, statement, *args):
    return h.sql(db, statement, *args)


def tenant_id(db, name):
    return sql(db, "SELECT id FROM tenants WHERE name = %s", name)[0][0]


def seed_directory(db, tenant, users=("u1", "u2", "u3"), groups={"g1": ("u1", "u2")}):
    """Directory rows straight into the replica (the directory API has its own tests)."""
    tid = tenant_id(db, tenant)
    for u in users:
        sql(db, "INSERT INTO directory_users (tenant_id, id, email, first_name, last_name) "
                "VALUES (%s, %s, %s, 'F', 'L')", tid, u, f"{u}@example.com")
    for g, members in groups.items():
        sql(db, "INSERT INTO directory_groups (tenant_id, id, name) VALUES (%s, %s, %s)", tid, g, g.upper())
        for m in members:
            sql(db, "INSERT INTO group_members (tenant_id, group_id, user_id) VALUES (%s, %s, %s)", tid, g, m)


def create(api, key, name="Main", **body):
    r = api.post("/v1/integrations", key=key, json={"name": name, **body})
    assert r.status_code == 201, r.text
    return r.json(), r


def test_create_get_list_with_defaults(api, db):
    key = h.create_key(db, "acme", "editor")
    it, r = create(api, key, "Primary Workspace")
    h.assert_schema(it, "Integration")
    assert it["status"] == "pending_authorization" and it["google"] is None
    assert it["settings"] == {
        "group_management": False, "group_membership": "additive", "default_domain": None,
        "import_filter": None, "lockout_action": "suspend", "password_expiry_action": "suspend",
        "deletion_guard": {"max_count": 25, "max_percent": 10},
        "deleted_in_google_action": "leave", "provision_without_password": False,
        "identity_source": "directory",
        "import_schedule": {"enabled": False, "interval_minutes": 60, "mode": "full",
                            "last_run_at": None, "next_run_at": None},
        "import_guard": {"max_count": 1000}}
    assert r.headers["Location"] == f"/v1/integrations/{it['id']}"
    assert r.headers["ETag"] == '"1"'
    got = api.get(f"/v1/integrations/{it['id']}", key=key)
    assert got.json() == it and got.headers["ETag"] == '"1"'
    for i in range(4):
        create(api, key, f"extra {i}")
    ids, cursor = [], None
    while True:
        body = api.get("/v1/integrations?limit=2" + (f"&cursor={cursor}" if cursor else ""), key=key).json()
        ids += [x["id"] for x in body["items"]]
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert len(ids) == 5 == len(set(ids)) and ids == sorted(ids)


def test_create_with_settings_and_validation(api, db):
    key = h.create_key(db, "acme", "editor")
    it, _ = create(api, key, "Configured", settings={
        "group_management": True, "group_membership": "authoritative", "lockout_action": "maintain",
        "deletion_guard": {"max_count": 3}, "import_filter": "isSuspended=false",
        "import_schedule": {"enabled": True, "interval_minutes": 15, "mode": "updates_only"},
        "identity_source": "google"})
    s = it["settings"]
    assert s["identity_source"] == "google"
    assert s["group_management"] and s["lockout_action"] == "maintain"
    assert s["group_membership"] == "authoritative"
    assert s["deletion_guard"] == {"max_count": 3, "max_percent": 10}
    # never queued: the integration is not active
    assert s["import_schedule"] == {"enabled": True, "interval_minutes": 15, "mode": "updates_only",
                                    "last_run_at": None, "next_run_at": None}
    cases = [
        ({}, "/name", "is required"),
        ({"name": ""}, "/name", "must not be empty"),
        ({"name": "   "}, "/name", "must not be only white space"),
        ({"name": "a\u0000b"}, "/name", "must not contain control characters"),
        ({"name": "x" * 256}, "/name", "must be at most 255 characters"),
        ({"name": "ok", "extra": 1}, "/extra", "unknown field"),
        ({"name": "ok", "settings": {"lockout_action": "delete"}}, "/settings/lockout_action", "must be suspend or maintain"),
        ({"name": "ok", "settings": {"password_expiry_action": 1}}, "/settings/password_expiry_action", "must be suspend or maintain"),
        ({"name": "ok", "settings": {"deleted_in_google_action": "x"}}, "/settings/deleted_in_google_action", "must be leave or recreate"),
        ({"name": "ok", "settings": {"group_management": "yes"}}, "/settings/group_management", "must be true or false"),
        ({"name": "ok", "settings": {"group_membership": "mixed"}}, "/settings/group_membership", "must be additive or authoritative"),
        ({"name": "ok", "settings": {"import_schedule": {"interval_minutes": 14}}}, "/settings/import_schedule/interval_minutes", "must be an integer from 15 to 10080"),
        ({"name": "ok", "settings": {"import_schedule": {"mode": "partial"}}}, "/settings/import_schedule/mode", "must be full or updates_only"),
        ({"name": "ok", "settings": {"import_schedule": {"interval_minutes": 10081}}}, "/settings/import_schedule/interval_minutes", "must be an integer from 15 to 10080"),
        ({"name": "ok", "settings": {"import_schedule": {"last_run_at": None}}}, "/settings/import_schedule/last_run_at", "is read-only (kept by the scheduler)"),
        ({"name": "ok", "settings": {"import_schedule": {"next_run_at": "2026-01-01T00:00:00Z"}}}, "/settings/import_schedule/next_run_at", "is read-only (kept by the scheduler)"),
        ({"name": "ok", "settings": {"identity_source": "platform"}}, "/settings/identity_source", "must be directory or google"),
        ({"name": "ok", "settings": {"identity_source": None}}, "/settings/identity_source", "must be directory or google"),
        ({"name": "ok", "settings": {"deletion_guard": {"max_percent": 101}}}, "/settings/deletion_guard/max_percent", "must be an integer from 0 to 100"),
        ({"name": "ok", "settings": {"deletion_guard": {"max_count": -1}}}, "/settings/deletion_guard/max_count", "must be an integer from 0 to 1000000"),
        ({"name": "ok", "settings": {"import_guard": {"max_count": -1}}}, "/settings/import_guard/max_count", "must be an integer from 0 to 1000000"),
        ({"name": "ok", "settings": {"import_guard": {"max_percent": 5}}}, "/settings/import_guard/max_percent", "unknown field"),
        ({"name": "ok", "settings": {"import_filter": "x" * 2049}}, "/settings/import_filter", "is too long"),
        ({"name": "ok", "settings": {"default_domain": "example.com"}}, "/settings/default_domain", "add the domain first, then make it the default"),
        ({"name": "ok", "settings": {"colour": 1}}, "/settings/colour", "unknown field"),
        ({"name": "ok", "settings": []}, "/settings", "must be an object"),
    ]
    for body, pointer, detail in cases:
        problem = h.assert_problem(api.post("/v1/integrations", key=key, json=body), 400, "validation")
        assert {"pointer": pointer, "detail": detail} in problem["errors"], (body, problem)
    h.assert_problem(api.post("/v1/integrations", key=key, json={"name": "CONFIGURED"}), 409, "conflict")
    assert len(api.get("/v1/integrations", key=key).json()["items"]) == 1


def test_patch_etag_and_default_domain(api, db):
    key = h.create_key(db, "acme", "editor")
    it, _ = create(api, key)
    url = f"/v1/integrations/{it['id']}"
    # default_domain must be one of the integration's domains
    problem = h.assert_problem(api.request("PATCH", url, key=key, json={"settings": {"default_domain": "example.com"}}), 409, "conflict")
    assert problem["errors"][0]["pointer"] == "/settings/default_domain"
    d = api.post(f"{url}/domains", key=key, json={"domain": "Example.COM"})
    assert d.status_code == 201 and d.json()["domain"] == "example.com" and d.json()["verified"] is None
    h.assert_schema(d.json(), "Domain")
    r = api.request("PATCH", url, key=key, headers={"If-Match": '"1"'},
                    json={"name": "Renamed", "settings": {"default_domain": "example.com", "deletion_guard": {"max_percent": 5}}})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    body = r.json()
    assert body["name"] == "Renamed" and body["settings"]["default_domain"] == "example.com"
    assert body["settings"]["deletion_guard"] == {"max_count": 25, "max_percent": 5}
    h.assert_problem(api.request("PATCH", url, key=key, headers={"If-Match": '"1"'}, json={"name": "Stale"}), 412, "precondition-failed")
    # A malformed If-Match is the client's error (400), not a version that differs (412); a body
    # that is not valid is a 400 even with a stale version.
    p = h.assert_problem(api.request("PATCH", url, key=key, headers={"If-Match": 'garbage'}, json={"name": "Stale"}), 400,
                         "validation")
    assert p["errors"][0]["pointer"] == "/header/If-Match"
    p = h.assert_problem(api.request("PATCH", url, key=key, headers={"If-Match": '"1"'}, json={"name": ""}), 400,
                         "validation")
    assert p["errors"][0]["pointer"] == "/name"
    assert api.request("PATCH", url, key=key, headers={"If-Match": "*"}, json={"name": "Any"}).status_code == 200
    assert api.get(url, key=key).json()["name"] == "Any"
    domains = api.get(f"{url}/domains", key=key).json()["items"]
    assert domains == [{**domains[0], "domain": "example.com", "default": True}]
    h.assert_problem(api.delete(f"{url}/domains/example.com", key=key), 409, "conflict")
    h.assert_problem(api.post(f"{url}/domains", key=key, json={"domain": "example.com"}), 409)
    for bad in ("nodot", "-a.com", "a-.com", "a..com", "ex ample.com", "a." + "b" * 64 + ".com", ""):
        h.assert_problem(api.post(f"{url}/domains", key=key, json={"domain": bad}), 400, "validation")
    assert api.request("PATCH", url, key=key, json={"settings": {"default_domain": None}}).json()["settings"]["default_domain"] is None
    assert api.delete(f"{url}/domains/example.com", key=key).status_code == 204
    h.assert_problem(api.delete(f"{url}/domains/example.com", key=key), 404)


def test_attribute_rules(api, db):
    key = h.create_key(db, "acme", "editor")
    it, _ = create(api, key)
    url = f"/v1/integrations/{it['id']}/attribute-rules"
    r = api.get(url, key=key)
    body = h.assert_schema(r.json(), "AttributeRules")
    rules = {x["attribute"]: x for x in body["rules"]}
    assert {a for a, x in rules.items() if x["always_synced"]} == {"email", "first_name", "last_name"}
    assert {a for a, x in rules.items() if x["direction"] == "export"} == {"password", "state"}
    assert all(x["direction"] == "excluded" for a, x in rules.items()
               if a not in ("email", "first_name", "last_name", "password", "state"))
    assert rules["manager"]["allowed"] == ["export", "excluded"]
    assert rules["job_title"]["allowed"] == ["import", "export", "excluded"]
    assert rules["email"]["allowed"] == ["both"]
    assert len(rules) == 21
    etag = r.headers["ETag"]
    put = api.request("PUT", url, key=key, headers={"If-Match": etag},
                      json={"rules": {"job_title": "import", "work_phones": "export", "password": "export",
                                      "email": "both", "department": "excluded"}})
    assert put.status_code == 200, put.text
    got = {x["attribute"]: x["direction"] for x in api.get(url, key=key).json()["rules"]}
    assert got["job_title"] == "import" and got["work_phones"] == "export" and got["password"] == "export"
    assert got["state"] == "excluded" and got["department"] == "excluded"
    h.assert_problem(api.request("PUT", url, key=key, headers={"If-Match": etag}, json={"rules": {}}), 412)
    cases = [
        ({"rules": {"manager": "import"}}, "/rules/manager", "can only be export or excluded"),
        ({"rules": {"state": "import"}}, "/rules/state", "can only be export or excluded"),
        ({"rules": {"email": "export"}}, "/rules/email", "is always synced and cannot be changed"),
        ({"rules": {"shoe_size": "export"}}, "/rules/shoe_size", "unknown attribute"),
        ({"rules": {"job_title": "both"}}, "/rules/job_title", "must be import, export or excluded"),
        ({"rules": "job_title"}, "/rules",
         "must be an object of attribute: direction, or an array of {attribute, direction}"),
        ({}, "/rules", "is required"),
        # GET's shape
        ({"rules": [{"attribute": "state", "direction": "import"}]}, "/rules/0/direction", "can only be export or excluded"),
        ({"rules": [{"attribute": "job_title"}]}, "/rules/0/direction", "is required (a string)"),
        ({"rules": [{"attribute": "job_title", "direction": "export", "x": 1}]}, "/rules/0/x", "unknown field"),
        ({"rules": ["job_title"]}, "/rules/0", "must be an object with attribute and direction"),
        ({"rules": [{"attribute": "job_title", "direction": "export", "allowed": [{}]}]}, "/rules/0/allowed",
         "must be an array of import, export, excluded, both"),
        ({"rules": [{"attribute": "job_title", "direction": "export", "always_synced": "no"}]},
         "/rules/0/always_synced", "must be a boolean"),
        ({"rules": [{"attribute": "shoe_size", "direction": "export"}]}, "/rules/0/attribute", "unknown attribute"),
    ]
    for body, pointer, detail in cases:
        problem = h.assert_problem(api.request("PUT", url, key=key, json=body), 400, "validation")
        assert {"pointer": pointer, "detail": detail} in problem["errors"], (body, problem)


def test_attribute_rules_round_trip_in_gets_shape(api, db):
    """PUT replaces the whole set and also takes GET's shape (an array of {attribute, direction},
    GET's read-only fields left in), so GET → edit → PUT keeps every rule not edited."""
    key = h.create_key(db, "acme", "editor")
    it, _ = create(api, key)
    url = f"/v1/integrations/{it['id']}/attribute-rules"
    r = api.get(url, key=key)
    body = r.json()
    for x in body["rules"]:
        if x["attribute"] == "job_title":
            x["direction"] = "export"
    put = api.request("PUT", url, key=key, headers={"If-Match": r.headers["ETag"]}, json=body)
    assert put.status_code == 200, put.text
    got = {x["attribute"]: x["direction"] for x in h.assert_schema(put.json(), "AttributeRules")["rules"]}
    assert {a for a, d in got.items() if d == "export"} == {"password", "state", "job_title"}, got
    assert got == {x["attribute"]: x["direction"] for x in api.get(url, key=key).json()["rules"]}
    # the short form replaces the whole set too: what it leaves out is excluded
    put = api.request("PUT", url, key=key, json={"rules": [{"attribute": "mobile_phones", "direction": "import"}]})
    got = {x["attribute"]: x["direction"] for x in put.json()["rules"]}
    assert {a for a, d in got.items() if d not in ("excluded", "both")} == {"mobile_phones"}, got
    # an attribute named twice is no rule set
    twice = [{"attribute": "state", "direction": "export"}, {"attribute": "state", "direction": "excluded"}]
    problem = h.assert_problem(api.request("PUT", url, key=key, json={"rules": twice}), 422)
    assert "state" in problem["detail"]
    assert {x["attribute"]: x["direction"] for x in api.get(url, key=key).json()["rules"]} == got


def test_bindings_and_bound_users(api, db):
    key = h.create_key(db, "acme", "editor")
    seed_directory(db, "acme")
    it, _ = create(api, key)
    base = f"/v1/integrations/{it['id']}"
    assert api.request("PUT", f"{base}/users/u1", key=key).status_code == 201
    again = api.request("PUT", f"{base}/users/u1", key=key)
    assert again.status_code == 200
    h.assert_schema(again.json(), "UserBinding")
    assert api.request("PUT", f"{base}/users/u3", key=key).status_code == 201
    g = api.request("PUT", f"{base}/groups/g1", key=key)
    assert g.status_code == 201 and h.assert_schema(g.json(), "GroupBinding")["group_id"] == "g1"
    h.assert_problem(api.request("PUT", f"{base}/users/nobody", key=key), 404)
    h.assert_problem(api.request("PUT", f"{base}/users/bad%20id", key=key), 404)
    h.assert_problem(api.request("PUT", f"{base}/groups/nogroup", key=key), 404)
    h.assert_problem(api.request("PUT", f"/v1/integrations/{UUID0}/users/u1", key=key), 404)

    body = api.get(f"{base}/users", key=key).json()
    users = {u["user_id"]: u for u in body["items"]}
    assert set(users) == {"u1", "u2", "u3"}
    for u in body["items"]:
        h.assert_schema(u, "BoundUser")
    assert [b["type"] for b in users["u1"]["bound_via"]] == ["direct", "group"]
    assert users["u2"]["bound_via"] == [{"type": "group", "group_id": "g1", "unbind_path": f"{base}/groups/g1"}]
    assert users["u3"]["bound_via"] == [{"type": "direct", "unbind_path": f"{base}/users/u3"}]
    assert users["u1"]["link"] == {"status": "pending", "google_id": None, "primary_email": None,
                                   "last_error": None, "last_synced_at": None, "origin": None}
    # Link status filter reads what the sync engine wrote.
    sql(db, "INSERT INTO user_links (tenant_id, integration_id, user_id, google_id, primary_email, status, "
            "last_error_reason, last_error_message, last_synced_at) VALUES (%s, %s, 'u2', '1001', 'u2@example.com', "
            "'failed', 'invalid', 'Invalid Given/Family Name', now())", tenant_id(db, "acme"), it["id"])
    failed = api.get(f"{base}/users?status=failed", key=key).json()["items"]
    assert [u["user_id"] for u in failed] == ["u2"]
    assert failed[0]["link"]["last_error"] == {"reason": "invalid", "message": "Invalid Given/Family Name"}
    assert [u["user_id"] for u in api.get(f"{base}/users?status=pending", key=key).json()["items"]] == ["u1", "u3"]
    h.assert_problem(api.get(f"{base}/users?status=weird", key=key), 400, "validation")
    page1 = api.get(f"{base}/users?limit=2", key=key).json()
    page2 = api.get(f"{base}/users?limit=2&cursor={page1['next_cursor']}", key=key).json()
    assert [u["user_id"] for u in page1["items"] + page2["items"]] == ["u1", "u2", "u3"]
    assert "next_cursor" not in page2
    groups = api.get(f"{base}/groups", key=key).json()["items"]
    assert [x["group_id"] for x in groups] == ["g1"]

    assert api.delete(f"{base}/users/u1", key=key).status_code == 204
    h.assert_problem(api.delete(f"{base}/users/u2", key=key), 404)  # bound only through g1
    assert api.delete(f"{base}/groups/g1", key=key).status_code == 204
    assert [u["user_id"] for u in api.get(f"{base}/users", key=key).json()["items"]] == ["u3"]


def test_deactivate_reactivate_delete(api, db):
    key = h.create_key(db, "acme", "editor")
    seed_directory(db, "acme")
    it, _ = create(api, key)
    base = f"/v1/integrations/{it['id']}"
    api.request("PUT", f"{base}/users/u1", key=key)
    api.request("PUT", f"{base}/groups/g1", key=key)
    # An active integration cannot be deleted before it is deactivated.
    sql(db, "UPDATE integrations SET status = 'active' WHERE id = %s", it["id"])
    problem = h.assert_problem(api.delete(base, key=key), 409, "conflict")
    assert "deactivate" in problem["detail"]
    h.assert_problem(api.post(f"{base}/reactivate", key=key), 409)
    r = api.post(f"{base}/deactivate", key=key)
    assert r.status_code == 200 and r.json()["status"] == "deactivated" and r.json()["deactivated_at"]
    assert api.get(f"{base}/users", key=key).json()["items"] == []
    assert api.get(f"{base}/groups", key=key).json()["items"] == []
    h.assert_problem(api.post(f"{base}/deactivate", key=key), 409)
    h.assert_problem(api.request("PUT", f"{base}/users/u1", key=key), 409)
    actions = [(e["resource_type"], e["action"]) for e in api.get("/v1/audit-events?limit=10", key=key).json()["items"]]
    assert ("integration", "deactivate") in actions and ("user_binding", "deactivate") in actions
    assert ("group_binding", "deactivate") in actions
    r = api.post(f"{base}/reactivate", key=key)
    assert r.status_code == 200 and r.json()["status"] == "pending_authorization"
    assert r.json()["deactivated_at"] is None
    assert api.request("PUT", f"{base}/users/u1", key=key).status_code == 201
    assert api.post(f"{base}/deactivate", key=key).status_code == 200
    assert api.delete(base, key=key, headers={"If-Match": '"99"'}).status_code == 412
    assert api.delete(base, key=key).status_code == 204
    h.assert_problem(api.get(base, key=key), 404)


def test_pending_integration_can_be_deleted(api, db):
    key = h.create_key(db, "acme", "editor")
    it, _ = create(api, key)
    assert api.delete(f"/v1/integrations/{it['id']}", key=key).status_code == 204


def test_roles_and_tenant_isolation(api, db):
    editor_a = h.create_key(db, "tenant-a", "editor")
    reader_a = h.create_key(db, "tenant-a", "reader")
    editor_b = h.create_key(db, "tenant-b", "editor")
    seed_directory(db, "tenant-b", users=("b1",), groups={"bg": ("b1",)})
    seed_directory(db, "tenant-a", users=("a1",), groups={})
    it_b, _ = create(api, editor_b, "B's")
    base_b = f"/v1/integrations/{it_b['id']}"
    api.post(f"{base_b}/domains", key=editor_b, json={"domain": "b.example"})
    api.request("PUT", f"{base_b}/users/b1", key=editor_b)
    # Same name in another tenant is fine.
    create(api, editor_a, "B's")
    h.assert_problem(api.post("/v1/integrations", key=reader_a, json={"name": "x"}), 403, "forbidden")
    attempts = [
        ("GET", base_b, None), ("PATCH", base_b, {"name": "stolen"}), ("DELETE", base_b, None),
        ("POST", f"{base_b}/deactivate", None), ("POST", f"{base_b}/reactivate", None),
        ("GET", f"{base_b}/domains", None), ("POST", f"{base_b}/domains", {"domain": "x.example"}),
        ("DELETE", f"{base_b}/domains/b.example", None),
        ("GET", f"{base_b}/attribute-rules", None), ("PUT", f"{base_b}/attribute-rules", {"rules": {}}),
        ("GET", f"{base_b}/users", None), ("PUT", f"{base_b}/users/b1", None),
        ("PUT", f"{base_b}/users/a1", None), ("DELETE", f"{base_b}/users/b1", None),
        ("GET", f"{base_b}/groups", None), ("PUT", f"{base_b}/groups/bg", None),
        ("DELETE", f"{base_b}/groups/bg", None),
    ]
    for method, path, body in attempts:
        r = api.request(method, path, key=editor_a, json=body) if body is not None else api.request(method, path, key=editor_a)
        h.assert_problem(r, 404)
    # B's data is untouched.
    assert api.get(base_b, key=editor_b).json()["name"] == "B's"
    assert [u["user_id"] for u in api.get(f"{base_b}/users", key=editor_b).json()["items"]] == ["b1"]
    assert [d["domain"] for d in api.get(f"{base_b}/domains", key=editor_b).json()["items"]] == ["b.example"]
    assert all(i["name"] != "B's" or i["id"] != it_b["id"] for i in api.get("/v1/integrations", key=editor_a).json()["items"])
    # A sees only its own audit trail.
    assert all(e["resource_id"] != it_b["id"] for e in api.get("/v1/audit-events?limit=100", key=editor_a).json()["items"])


def test_idempotency_key_on_create(api, db):
    key = h.create_key(db, "acme", "editor")
    hdr = {"Idempotency-Key": "create-main-1"}
    first = api.post("/v1/integrations", key=key, json={"name": "Once"}, headers=dict(hdr))
    second = api.post("/v1/integrations", key=key, json={"name": "Once"}, headers=dict(hdr))
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.headers["Location"] == first.headers["Location"]
    h.assert_problem(api.post("/v1/integrations", key=key, json={"name": "Twice"}, headers=dict(hdr)),
                     422, "idempotency-key-reused")
    # A refused request does not burn the key.
    bad = {"Idempotency-Key": "k2"}
    h.assert_problem(api.post("/v1/integrations", key=key, json={"name": ""}, headers=dict(bad)), 400)
    assert api.post("/v1/integrations", key=key, json={"name": "Fixed"}, headers=dict(bad)).status_code == 201
    assert len(api.get("/v1/integrations", key=key).json()["items"]) == 2
    # Keys are per tenant.
    other = h.create_key(db, "other", "editor")
    assert api.post("/v1/integrations", key=other, json={"name": "Once"}, headers=dict(hdr)).headers.get("Idempotent-Replayed") is None
    h.assert_problem(api.post("/v1/integrations", key=key, json={"name": "x"},
                              headers={"Idempotency-Key": "é" }), 400)
    op = h.create_key(db, "acme", "operator")
    tid = tenant_id(db, "acme")
    h.assert_problem(api.post(f"/v1/tenants/{tid}/api-keys", key=op, json={"role": "reader"},
                              headers={"Idempotency-Key": "secret-route"}), 400, "idempotency-unsupported")


def test_audit_trail_records_changes_without_secrets(api, db):
    key = h.create_key(db, "acme", "editor")
    it, _ = create(api, key, "Audited")
    api.request("PATCH", f"/v1/integrations/{it['id']}", key=key, json={"name": "Audited 2"},
                headers={"X-Request-Id": "audit-req-1"})
    events = api.get("/v1/audit-events", key=key).json()["items"]
    for e in events:
        h.assert_schema(e, "AuditEvent")
    update = next(e for e in events if e["action"] == "update" and e["resource_type"] == "integration")
    assert update["request_id"] == "audit-req-1"
    assert update["before"]["name"] == "Audited" and update["after"]["name"] == "Audited 2"
    assert update["resource_id"] == it["id"]
    keys = api.get("/v1/api-keys", key=key).json()["items"]
    assert update["actor_key_id"] == keys[0]["id"]
    create_ev = [e for e in events if e["action"] == "create" and e["resource_type"] == "integration"]
    assert len(create_ev) == 1 and create_ev[0]["before"] is None
    assert [e["id"] for e in events] == sorted([e["id"] for e in events], key=int, reverse=True)
    page = api.get("/v1/audit-events?limit=1", key=key).json()
    nxt = api.get(f"/v1/audit-events?limit=1&cursor={page['next_cursor']}", key=key).json()
    assert int(nxt["items"][0]["id"]) < int(page["items"][0]["id"])
    h.assert_problem(api.get("/v1/audit-events?cursor=" + "YzE6eA", key=key), 400)
    dump = str(sql(db, "SELECT before, after FROM audit_events"))
    assert "key_hash" not in dump and "password_hash" not in dump
