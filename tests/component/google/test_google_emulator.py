"""service/google against gws-emulator: retries under injected faults (counted in the emulator's
request log), the token bucket holding a quota, paging across page limits, a mixed batch.

The C side is build/gclient (gclient.c), which prints one JSON object per run.
"""
import json
import os
import signal
import subprocess
import tempfile

import pytest
import requests

EMU_BIN = os.environ.get("GWS_EMULATOR_BIN", "")
GCLIENT = os.path.join(os.environ.get("GWSYNC_TEST_TOOLS", "build"), "gclient")
DIR = "/admin/directory/v1"


class Emulator:
    def __init__(self):
        assert EMU_BIN and os.path.exists(EMU_BIN), "GWS_EMULATOR_BIN must point at the emulator"
        self.errf = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([EMU_BIN, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                     stderr=self.errf, text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:")

    def ctl(self, method, path, body=None):
        r = requests.request(method, self.url + "/_emulator/" + path,
                             data=None if body is None else json.dumps(body), timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def log(self, route=None):
        reqs = self.ctl("GET", "requests")["requests"]
        return [r for r in reqs if route is None or r["route"] == route]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def emu_proc():
    e = Emulator()
    yield e
    assert e.stop() == 0


@pytest.fixture
def emu(emu_proc):
    emu_proc.ctl("POST", "reset", {})
    emu_proc.token = emu_proc.ctl("POST", "tokens", {"subject": "admin@example.com"})["access_token"]
    emu_proc.ctl("DELETE", "requests")
    return emu_proc


def gclient(emu, *args, stdin=None, **env):
    assert os.path.exists(GCLIENT), GCLIENT
    full_env = dict(os.environ, **{k: str(v) for k, v in env.items()})
    p = subprocess.run([GCLIENT, emu.url, emu.token, *args], input=stdin, capture_output=True, text=True,
                       timeout=120, env=full_env)
    assert p.returncode == 0, p.stderr
    assert emu.token not in p.stdout + p.stderr
    # retries are logged as JSON lines before the result (the last line)
    lines = p.stdout.strip().splitlines()
    for line in lines[:-1]:
        assert json.loads(line)["event"] == "google_retry", line
    return json.loads(lines[-1])


USER = DIR + "/users/admin%40example.com"


@pytest.mark.parametrize("fault,attempts", [
    ({"status": 429, "times": 2}, 3),
    ({"status": 403, "reason": "userRateLimitExceeded", "times": 1}, 2),
    ({"status": 503, "times": 2}, 3),
    ({"status": 500, "times": 1}, 2),
    ({"html": True, "status": 502, "times": 2}, 3),
])
def test_transient_faults_are_retried(emu, fault, attempts):
    emu.ctl("POST", "faults", {"route": "directory.users.get", **fault})
    out = gclient(emu, "call", "GET", USER)
    assert out["rc"] == "ok" and out["status"] == 200, out
    assert json.loads(out["body"])["primaryEmail"] == "admin@example.com"
    log = emu.log("directory.users.get")
    assert len(log) == attempts, log
    assert out["attempts"] == attempts and out["retries"] == attempts - 1
    assert [r["status"] for r in log][-1] == 200


def test_user_creation_not_complete_412_is_retried(emu):
    emu.ctl("POST", "faults", {"route": "directory.users.update", "status": 412, "times": 2})
    out = gclient(emu, "call", "PUT", USER, json.dumps({"name": {"givenName": "Ada", "familyName": "Admin"}}))
    assert out["rc"] == "ok", out
    assert [r["status"] for r in emu.log("directory.users.update")] == [412, 412, 200]


def test_other_client_errors_are_not_retried(emu):
    emu.ctl("POST", "faults", {"route": "directory.users.get", "status": 400, "reason": "invalid",
                               "message": "Invalid Input", "times": 1})
    out = gclient(emu, "call", "GET", USER)
    assert out["rc"] == "invalid" and out["status"] == 400 and out["reason"] == "invalid", out
    assert len(emu.log("directory.users.get")) == 1
    out = gclient(emu, "call", "GET", DIR + "/users/nobody%40example.com")
    assert out["rc"] == "not_found" and out["status"] == 404 and out["retries"] == 0
    # a 412 that is not "creation pending" is final too
    emu.ctl("POST", "faults", {"route": "directory.users.get", "status": 412, "reason": "conditionNotMet",
                               "message": "Cyclic memberships not allowed", "times": 1})
    out = gclient(emu, "call", "GET", USER)
    assert out["status"] == 412 and out["retries"] == 0, out


def test_retries_are_bounded(emu):
    emu.ctl("POST", "faults", {"route": "directory.users.get", "status": 503})
    out = gclient(emu, "call", "GET", USER, GCLIENT_RETRY_MAX_ATTEMPTS=3)
    assert out["rc"] == "unavailable" and out["status"] == 503 and out["reason"] == "backendError", out
    assert len(emu.log("directory.users.get")) == 3


def test_rate_limit_answers_slow_the_bucket(emu):
    emu.ctl("POST", "faults", {"route": "directory.users.get", "status": 429, "times": 1})
    out = gclient(emu, "call", "GET", USER)
    assert out["rc"] == "ok" and out["cuts"] == 1, out


def test_bucket_holds_the_configured_quota(emu):
    fast = gclient(emu, "burst", "30", USER, GCLIENT_QPM=100000)
    slow = gclient(emu, "burst", "30", USER, GCLIENT_QPM=600)
    print(f"30 calls: {fast['elapsed_ms']} ms unthrottled, {slow['elapsed_ms']} ms at 600/min "
          f"(expected about 2900 ms); bucket waits {slow['waits']}")
    assert fast["ok"] == 30 and slow["ok"] == 30
    # 600/min is 10/s with a bucket of one: 30 calls cannot be done within a second.
    assert slow["elapsed_ms"] > 1000 and slow["waits"] > 0
    assert len(emu.log("directory.users.get")) == 60


def test_paging_across_limits(emu):
    emu.ctl("POST", "seed", {"users": 1203, "groups": 450, "membersPerGroup": 0})
    out = gclient(emu, "list", DIR + "/users?customer=my_customer", "users", "500", "users(id,primaryEmail)")
    assert out["rc"] == "ok" and out["items"] == 1204 and out["pages"] == 3, out
    pages = emu.log("directory.users.list")
    assert len(pages) == 3 and "pageToken" not in pages[0]["query"] and "pageToken" in pages[1]["query"]
    assert "maxResults=500" in pages[0]["query"] and "nextPageToken" in pages[0]["query"]
    # groups are capped at 200 a page even when more is asked for
    out = gclient(emu, "list", DIR + "/groups?customer=my_customer", "groups", "200", "groups(id,email)")
    assert out["items"] == 450 and out["pages"] == 3, out


def test_batch_with_mixed_results(emu):
    new_user = json.dumps({"primaryEmail": "batch.new@example.com", "password": "correct-horse-9",
                           "name": {"givenName": "Bat", "familyName": "Ch"}})
    bad_user = json.dumps({"primaryEmail": "batch.bad@example.com", "password": "correct-horse-9",
                           "name": {"givenName": "", "familyName": "X"}})
    lines = "\n".join([
        f"GET {USER}",
        f"GET {DIR}/users/nobody%40example.com",
        f"POST {DIR}/users {new_user}",
        f"POST {DIR}/users {bad_user}",
        f"POST {DIR}/users {new_user}",
    ]) + "\n"
    out = gclient(emu, "batch", stdin=lines)
    assert out["rc"] == "ok", out
    st = [i["status"] for i in out["items"]]
    assert st[0] == 200 and st[1] == 404 and st[3] == 400, out
    # the same new user twice: exactly one is created, the other collides
    assert sorted([st[2], st[4]]) == [200, 409], out
    assert out["items"][1]["rc"] == "not_found" and out["items"][3]["rc"] == "invalid"
    assert len(emu.log("batch")) == 1
