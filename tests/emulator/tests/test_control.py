"""Control API: faults, quota, concurrency, request log, counters, state dump/load, seeding."""
import concurrent.futures
import json
import time

from conftest import DIR, Emulator, gerr


def get_admin(emu):
    return emu.call("GET", f"{DIR}/users/admin@example.com")


def test_fault_status_reason_message_and_times(emu):
    f = emu.ctl("POST", "faults", {"route": "directory.users.get", "status": 503, "times": 2})
    gerr(get_admin(emu), 503, "backendError", "Service unavailable. Please try again")
    gerr(get_admin(emu), 503, "backendError")
    assert get_admin(emu).status_code == 200
    assert emu.ctl("GET", "faults")["faults"][0]["id"] == f["id"]
    emu.ctl("POST", "faults", {"method": "GET", "path": "/admin/directory/v1/users/*", "status": 400,
                               "reason": "invalid", "message": "Custom message"})
    gerr(get_admin(emu), 400, "invalid", "Custom message")
    emu.ctl("DELETE", "faults")
    assert get_admin(emu).status_code == 200


def test_fault_every_nth_and_probability(emu):
    emu.ctl("POST", "faults", {"route": "directory.users.get", "status": 500, "every": 3})
    got = [get_admin(emu).status_code for _ in range(6)]
    assert got == [200, 200, 500, 200, 200, 500]
    emu.ctl("DELETE", "faults")
    emu.ctl("POST", "faults", {"route": "directory.users.get", "status": 429, "probability": 1.0})
    gerr(get_admin(emu), 429, "rateLimitExceeded")


def test_fault_html_502_and_latency(emu):
    emu.ctl("POST", "faults", {"route": "directory.users.get", "html": True, "times": 1})
    r = get_admin(emu)
    assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html")
    emu.ctl("POST", "faults", {"route": "oauth2.token", "latencyMs": 300, "times": 1})
    t0 = time.time()
    emu.http.post(emu.url + "/token", data={"grant_type": "x"})
    assert time.time() - t0 >= 0.3


def test_quota_per_minute(emu):
    emu.ctl("PUT", "quota", {"quotaPerMinute": 2})
    assert get_admin(emu).status_code == 200
    assert get_admin(emu).status_code == 200
    e = gerr(get_admin(emu), 403, "userRateLimitExceeded")
    assert e["message"] == ("Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' "
                            "of service 'admin.googleapis.com' for consumer 'project_number:123456789012'.")
    other = emu.token("admin@example.com")       # same user and project share the quota
    gerr(emu.call("GET", f"{DIR}/users/admin@example.com", token=other), 403, "userRateLimitExceeded")


def test_concurrency_limit(emu):
    emu.ctl("POST", "faults", {"route": "directory.users.get", "latencyMs": 400})
    burst = lambda: list(ex.map(
        lambda _: Emulator.call(emu, "GET", f"{DIR}/users/admin@example.com").status_code, range(6)))
    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        assert burst() == [200] * 6          # off (the default): no limit
        emu.ctl("PUT", "quota", {"concurrency": 2})
        sts = burst()
    assert sts.count(200) >= 2 and sts.count(429) >= 1, sts


def test_delete_status_switch(emu):
    for status in (204, 200):
        emu.ctl("PUT", "config", {"deleteStatus": status})
        emu.new_user(f"d{status}@example.com")
        r = emu.call("DELETE", f"{DIR}/users/d{status}@example.com")
        assert r.status_code == status and r.content == b"", r.text


def test_request_log_and_counters(emu):
    emu.ctl("DELETE", "requests")
    emu.ctl("DELETE", "counters")
    emu.new_user("log@example.com")
    emu.call("GET", f"{DIR}/users/nobody@example.com", params={"fields": "id"})
    log = emu.ctl("GET", "requests")["requests"]
    assert [(e["method"], e["route"], e["status"]) for e in log] == [
        ("POST", "directory.users.insert", 200), ("GET", "directory.users.get", 404)]
    assert json.loads(log[0]["body"])["primaryEmail"] == "log@example.com"
    assert log[1]["query"] == "fields=id" and log[1]["path"] == f"{DIR}/users/nobody@example.com"
    assert log[0]["time"].endswith("Z") and log[0]["seq"] < log[1]["seq"]
    assert emu.ctl("GET", f"requests?since={log[0]['seq']}")["requests"][0]["seq"] == log[1]["seq"]
    c = emu.ctl("GET", "counters")["counters"]
    assert c["directory.users.insert"] == 1 and c["directory.users.get:404"] == 1


def test_state_dump_and_load(emu, tmp_path):
    emu.ctl("POST", "seed", {"users": 20, "groups": 2, "membersPerGroup": 5})
    emu.call("POST", f"{DIR}/users/admin@example.com/aliases", {"alias": "boss@example.com"})
    emu.ctl("POST", "admins", {"email": "help@example.com", "privileges": ["groups"]})
    state = emu.ctl("GET", "state")
    assert len(state["users"]) == 22 and len(state["groups"]) == 2
    p = tmp_path / "state.json"
    p.write_text(json.dumps(state))
    e2 = Emulator("--state", str(p))
    try:
        e2.tok = e2.token()
        u = e2.call("GET", f"{DIR}/users/boss@example.com").json()
        assert u["primaryEmail"] == "admin@example.com"
        j = e2.call("GET", f"{DIR}/groups/group-00000@example.com/members").json()
        assert len(j["members"]) == 5
        assert e2.ctl("GET", "info")["customerId"] == state["customer"]["id"]
        h = e2.call("GET", f"{DIR}/users/help@example.com").json()
        assert h["isDelegatedAdmin"] is True
        # page tokens do not survive a restart
        t = emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", "maxResults": 5}).json()
        gerr(e2.call("GET", f"{DIR}/users", params={"customer": "my_customer", "maxResults": 5,
                                                     "pageToken": t["nextPageToken"]}), 400, "invalid")
    finally:
        rc, err = e2.stop()
        assert rc == 0, err


def test_bad_state_file_fails(tmp_path):
    import subprocess
    from conftest import BIN
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"users": [{"primaryEmail": "x@else.org", "name": {"givenName": "a", "familyName": "b"}}]}))
    r = subprocess.run([BIN, "--state", str(p)], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "Not Authorized" in r.stderr


def test_seed_shape(emu):
    j = emu.ctl("POST", "seed", {"users": 100, "groups": 3, "membersPerGroup": 10, "aliasesEvery": 10})
    assert j["users"] == 100
    lst = emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", "maxResults": 500}).json()["users"]
    seeded = [u for u in lst if u["primaryEmail"] != "admin@example.com"]
    assert len(seeded) == 100
    assert sum(1 for u in seeded if u.get("aliases")) == 10
    assert all(u["externalIds"][0]["type"] == "organization" and u["orgUnitPath"] != "" for u in seeded)
    g = emu.call("GET", f"{DIR}/groups/group-00001@example.com").json()
    assert g["directMembersCount"] == "10"
