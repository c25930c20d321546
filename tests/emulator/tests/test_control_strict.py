"""An outside tester's findings: latency that could hang the emulator, and control calls or API
parameters that accepted bad values with 200 (a bad value must be a 400 that changes nothing)."""
import json
import pathlib
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN, DIR, Emulator, gerr


def faults(emu):
    return emu.ctl("GET", "faults")["faults"]


def wait_seen(emu, n, timeout=30):
    """Polls GET faults until the first fault has been met n times (the requests are sleeping)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = requests.get(emu.url + "/_emulator/faults", timeout=10)
        if r.json()["faults"] and r.json()["faults"][0]["seen"] >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"the fault was not met {n} times")


def slow_get(emu, out, key="admin@example.com"):
    try:
        out.append(requests.get(emu.url + DIR + "/users/" + key,
                                headers={"Authorization": "Bearer " + emu.tok}, timeout=300).status_code)
    except requests.RequestException as e:  # noqa: BLE001 - the test reads what came back
        out.append(repr(e))


# ---------------------------------------------------------------- latency (item 1)

@pytest.mark.parametrize("ms", [-1, 120001, 99999999999])
def test_latency_out_of_bounds_is_refused(emu, ms):
    r = emu.http.post(emu.url + "/_emulator/faults",
                      data=json.dumps({"path": DIR + "/users/*", "latencyMs": ms, "times": 40}))
    assert r.status_code == 400, r.text
    assert "latencyMs" in r.json()["error"]
    assert faults(emu) == []


def test_clearing_the_fault_wakes_a_sleeping_request(emu):
    emu.ctl("POST", "faults", {"route": "directory.users.get", "latencyMs": 120000})
    out = []
    t = threading.Thread(target=slow_get, args=(emu, out))
    t.start()
    wait_seen(emu, 1)
    emu.ctl("DELETE", "faults")
    t.join(60)  # far below the 120 s latency: only a woken sleeper gets here
    assert not t.is_alive(), "DELETE faults did not end the latency sleep"
    assert out == [200]


def test_clearing_one_fault_by_id_wakes_its_sleepers(emu):
    fid = emu.ctl("POST", "faults", {"route": "directory.users.get", "latencyMs": 120000})["id"]
    out = []
    t = threading.Thread(target=slow_get, args=(emu, out))
    t.start()
    wait_seen(emu, 1)
    emu.ctl("DELETE", f"faults/{fid}")
    t.join(60)
    assert not t.is_alive(), "DELETE faults/{id} did not end the latency sleep"
    assert out == [200]


def test_sigterm_ends_latency_sleeps():
    e = Emulator()
    e.reset()
    e.ctl("POST", "faults", {"route": "directory.users.get", "latencyMs": 120000})
    out = []
    t = threading.Thread(target=slow_get, args=(e, out))
    t.start()
    wait_seen(e, 1)
    rc, err = e.stop()  # waits 30 s, then SIGKILL (rc -9)
    t.join(60)
    assert rc == 0, ("SIGTERM did not stop the emulator while a request slept", rc, err)


def test_control_api_answers_while_latency_takes_the_threads():
    e = Emulator("--threads", "8")
    try:
        e.reset()
        e.ctl("POST", "faults", {"route": "directory.users.get", "latencyMs": 120000})
        out = []
        ts = [threading.Thread(target=slow_get, args=(e, out)) for _ in range(12)]
        for t in ts:
            t.start()
        wait_seen(e, 12)
        r = requests.get(e.url + "/_emulator/health", timeout=10)
        assert r.status_code == 200
        # the requests beyond the sleepers' share are answered without the delay
        end = time.monotonic() + 60
        while len(out) < 8 and time.monotonic() < end:
            time.sleep(0.05)
        assert out == [200] * 8, out
        requests.delete(e.url + "/_emulator/faults", timeout=10)
        for t in ts:
            t.join(60)
        assert out == [200] * 12
    finally:
        rc, err = e.stop()
    assert rc == 0, err


# ---------------------------------------------------------------- faults (item 3)

@pytest.mark.parametrize("body", [
    {"route": "directory.users.get", "status": 503, "probability": 2},
    {"route": "directory.users.get", "status": 503, "probability": -3},
    {"route": "directory.users.get", "status": 503, "probability": 0},
    {"route": "directory.users.get", "status": 503, "every": 0},
    {"route": "directory.users.get", "status": 503, "times": -1},
    {"route": "directory.users.get", "status": 503, "times": 0},
    {"route": "directory.users.get", "status": 200},
    {"route": "directory.users.get", "status": 302},
    {"route": "nope.route", "status": 503},
    {"path": "[", "status": 503},
    {"path": "/admin/directory/v1/users/[abc", "status": 503},
    {"route": "directory.users.get", "latencyMs": -5},
    {"route": "directory.users.get", "method": "FETCH", "status": 503},
    {"route": "directory.users.get"},
])
def test_bad_fault_is_refused(emu, body):
    r = emu.http.post(emu.url + "/_emulator/faults", data=json.dumps(body))
    assert r.status_code == 400, (body, r.text)
    assert faults(emu) == []


def test_get_faults_shows_every_field(emu):
    body = {"method": "PUT", "path": DIR + "/users/*", "route": "directory.users.update",
            "status": 409, "reason": "duplicate", "message": "Entity already exists.",
            "html": False, "probability": 0.5, "every": 2, "times": 3, "latencyMs": 10,
            "apply": True, "renameOnly": True}
    fid = emu.ctl("POST", "faults", body)["id"]
    emu.ctl("POST", "faults", {"status": 503})
    got = faults(emu)
    assert got[0] == {"id": fid, **body, "seen": 0}
    assert got[1] == {"id": fid + 1, "method": None, "path": None, "route": None, "status": 503,
                      "reason": None, "message": None, "html": False, "probability": 1,
                      "every": 1, "times": None, "latencyMs": 0, "apply": False,
                      "renameOnly": False, "seen": 0}


# ---------------------------------------------------------------- admins (item 2)

@pytest.mark.parametrize("privs", [["root"], ["users", "superadmin"], ["user"]])
def test_unknown_privilege_is_refused_and_demotes_nobody(emu, privs):
    r = emu.http.post(emu.url + "/_emulator/admins",
                      data=json.dumps({"email": "admin@example.com", "privileges": privs}))
    assert r.status_code == 400, r.text
    assert "users, groups, domains, customer" in r.json()["error"]
    me = emu.call("GET", DIR + "/users/admin@example.com")
    assert me.status_code == 200 and me.json()["isAdmin"] is True
    # no user was made either
    assert emu.call("GET", DIR + "/users/new-admin@example.com").status_code == 404
    r = emu.http.post(emu.url + "/_emulator/admins",
                      data=json.dumps({"email": "new-admin@example.com", "privileges": privs}))
    assert r.status_code == 400
    assert emu.call("GET", DIR + "/users/new-admin@example.com").status_code == 404


def test_unknown_privilege_in_a_state_is_refused(emu):
    state = {"users": [{"primaryEmail": "h@example.com", "privileges": ["root"],
                        "name": {"givenName": "H", "familyName": "K"}}]}
    r = emu.http.put(emu.url + "/_emulator/state", data=json.dumps(state))
    assert r.status_code == 400 and "root" in r.json()["error"], r.text
    assert emu.call("GET", DIR + "/users/h@example.com").status_code == 404


# ---------------------------------------------------------------- other control calls (item 3)

def ctl_400(emu, method, path, body=None):
    r = emu.http.request(method, emu.url + "/_emulator/" + path,
                         data=None if body is None else json.dumps(body))
    assert r.status_code == 400, (path, body, r.status_code, r.text)
    return r.json()["error"]


def test_revoke_with_unknown_kind_changes_nothing(emu):
    emu.token()
    ctl_400(emu, "POST", "tokens/revoke", {"kind": "weird"})
    ctl_400(emu, "POST", "tokens/revoke", {"kind": "all", "subject": "nobody@example.com"})
    assert emu.call("GET", DIR + "/users/admin@example.com").status_code == 200


@pytest.mark.parametrize("body", [
    {"subject": "nobody@example.com"},
    {"subject": "admin@example.com", "ttlS": -1},
    {"subject": "admin@example.com", "ttlS": 0},
    {"subject": "admin@example.com", "scopes": ["bogus"]},
    {"subject": "admin@example.com",
     "scopes": "https://www.googleapis.com/auth/admin.directory.nonsense"},
])
def test_bad_token_request_is_refused(emu, body):
    ctl_400(emu, "POST", "tokens", body)


def test_a_group_is_not_a_token_subject(emu):
    emu.new_group("team@example.com")
    ctl_400(emu, "POST", "tokens", {"subject": "team@example.com"})


def test_unknown_member_of_a_control_body_is_refused(emu):
    assert "bogus" in ctl_400(emu, "POST", "seed", {"bogus": 1})
    assert "user" in ctl_400(emu, "POST", "seed", {"user": 5})
    assert emu.ctl("GET", "info")["users"] == 1
    ctl_400(emu, "POST", "domains", {"domainName": "x.example", "verifed": False})
    ctl_400(emu, "POST", "faults", {"status": 503, "time": 1})
    assert faults(emu) == []


def test_seed_account_with_fixture_and_generate_is_ambiguous(emu):
    ctl_400(emu, "POST", "seed/account", {"fixture": {"orgUnits": ["/X"]}, "generate": {"users": 5}})
    assert emu.ctl("GET", "info")["users"] == 1


@pytest.mark.parametrize("name", ["", "nodot", "a..b", "-a.example", "a-.example", ".a.example",
                                  "a.example.", "x" * 64 + ".example", "a_b.example",
                                  ("a" * 60 + ".") * 4 + "a" * 20])
def test_bad_domain_name_is_refused(emu, name):
    ctl_400(emu, "POST", "domains", {"domainName": name})
    ctl_400(emu, "POST", "seed/account", {"fixture": {"domains": [{"domainName": name}]}})
    ctl_400(emu, "POST", "reset", {"domain": name})
    doms = emu.call("GET", f"{DIR}/customer/my_customer/domains").json()["domains"]
    assert [d["domainName"] for d in doms] == ["example.com"]


def test_longest_domain_name_is_accepted(emu):
    name = ("a" * 63 + ".") * 3 + "b" * 61   # 253 characters, labels of 63
    assert len(name) == 253
    emu.ctl("POST", "domains", {"domainName": name})


def test_existing_org_unit_is_a_conflict(emu):
    r = emu.http.post(emu.url + "/_emulator/orgunits", data=json.dumps({"orgUnitPath": "/"}))
    assert r.status_code == 409, r.text
    emu.ctl("POST", "orgunits", {"orgUnitPath": "/Sales"})
    r = emu.http.post(emu.url + "/_emulator/orgunits", data=json.dumps({"orgUnitPath": "/Sales"}))
    assert r.status_code == 409, r.text


@pytest.mark.parametrize("since", ["abc", "-1", "1x", "", " 1", "+1"])
def test_bad_requests_since_is_refused(emu, since):
    ctl_400(emu, "GET", "requests?since=" + since)


def test_requests_since_a_sequence_number(emu):
    emu.call("GET", DIR + "/users/admin@example.com")
    last = emu.ctl("GET", "requests?since=0")["lastSeq"]
    assert emu.ctl("GET", f"requests?since={last}")["requests"] == []
    assert emu.ctl("GET", f"requests?since={last - 1}")["requests"][0]["seq"] == last


# ---------------------------------------------------------------- Directory API (item 4)

@pytest.mark.parametrize("query", ["isSuspended=maybe", "isAdmin=yes", "isArchived=1",
                                   "isDelegatedAdmin=no", "isEnrolledIn2Sv=no"])
def test_bad_boolean_in_query_is_invalid_input(emu, query):
    gerr(emu.call("GET", DIR + "/users", params={"customer": "my_customer", "query": query}),
         400, "invalid", "Invalid Input: query")


def test_boolean_query_still_filters(emu):
    emu.new_user("off@example.com", suspended=True)
    got = emu.call("GET", DIR + "/users", params={"customer": "my_customer",
                                                   "query": "isSuspended=TRUE"}).json()["users"]
    assert [u["primaryEmail"] for u in got] == ["off@example.com"]


def test_bad_show_deleted_is_invalid_parameter(emu):
    gerr(emu.call("GET", DIR + "/users", params={"customer": "my_customer", "showDeleted": "maybe"}),
         400, "invalidParameter", "Invalid value 'maybe'. Values must be one of: true, false")


def test_bad_sort_order_message_as_other_enums(emu):
    gerr(emu.call("GET", DIR + "/users", params={"customer": "my_customer", "sortOrder": "up"}),
         400, "invalidParameter", "Invalid value 'up'. Values must be one of: ASCENDING, DESCENDING")


def test_truncated_or_edited_page_token_is_refused(emu):
    for i in range(3):
        emu.new_user(f"p{i}@example.com")
    p = {"customer": "my_customer", "maxResults": 1}
    tok = emu.call("GET", DIR + "/users", params=p).json()["nextPageToken"]
    assert emu.call("GET", DIR + "/users", params={**p, "pageToken": tok}).status_code == 200
    for bad in (tok[:-2], tok[:-1], tok[:-4], tok[:-1] + ("A" if tok[-1] != "A" else "B")):
        gerr(emu.call("GET", DIR + "/users", params={**p, "pageToken": bad}),
             400, "invalid", "Invalid page token")
    gtok = None
    for i in range(3):
        emu.new_group(f"g{i}@example.com")
    gtok = emu.call("GET", DIR + "/groups", params=p).json()["nextPageToken"]
    gerr(emu.call("GET", DIR + "/groups", params={**p, "pageToken": gtok[:-2]}),
         400, "invalid", "Invalid page token")


def test_generated_ids_are_as_the_readme_says(emu):
    emu.ctl("POST", "seed/account", {"generate": {"seed": 7, "users": 201, "groups": 0}})
    emu.tok = emu.token()  # the reset dropped the tokens
    users = emu.call("GET", DIR + "/users", params={"customer": "my_customer", "maxResults": 500,
                                                    "query": "externalId=emp-7-00200"}).json()["users"]
    assert len(users) == 1
    m = emu.ctl("POST", f"users/{users[0]['id']}/check-password", {"password": "Passw0rd-7-200"})
    assert m["match"] is True
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "`emp-7-00200`" in readme and "`Passw0rd-7-200`" in readme


@pytest.mark.parametrize("flag", ["--base-url", "--domain", "--listen", "--state", "--threads",
                                  "--sa-key"])
def test_flag_without_value_says_so(flag):
    p = subprocess.run([BIN, flag], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert f"{flag} needs a value" in p.stderr, p.stderr


@pytest.mark.parametrize("args", [["--domain", "bad..dom"], ["--domain", "-x.example"],
                                  ["--domain", "x" * 64 + ".example"], ["--threads", "0"],
                                  ["--threads", "lots"]])
def test_bad_flag_value_is_refused_at_startup(args):
    p = subprocess.run([BIN, "--listen", "127.0.0.1:0", *args], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2, p.stdout
    assert args[0] in p.stderr


def test_bad_group_sort_order_is_invalid_parameter(emu):
    gerr(emu.call("GET", DIR + "/groups", params={"customer": "my_customer", "sortOrder": "up"}),
         400, "invalidParameter", "Invalid value 'up'. Values must be one of: ASCENDING, DESCENDING")
