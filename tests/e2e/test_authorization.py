"""Authorizing integrations against Google (gws-emulator) through the real gwsync api.

One emulator per module (reset per test); each test gets its own database and api process whose
Google URLs point at the emulator. After every test, every response body, every log line of the
api and every table row is searched for the private key, Google's tokens and the sealing key.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import urllib.parse

import pytest
import requests

import gwsync_harness as h

EMU_BIN = os.environ.get("GWS_EMULATOR_BIN", "")
SCOPE = "https://www.googleapis.com/auth/"
CLIENT_ID = "gwsync-test.apps.googleusercontent.com"
CLIENT_SECRET = "oauth-client-secret-Zk41"
KEY_A = h.TEST_SECRET_KEY
KEY_B = "rot2:" + __import__("base64").b64encode(bytes(range(100, 132))).decode()
PRIVS = ["User Management Admin", "Groups Admin", "Domain Management"]


class Emulator:
    def __init__(self):
        assert EMU_BIN and os.path.exists(EMU_BIN), "GWS_EMULATOR_BIN must point at the emulator"
        self.errf = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([EMU_BIN, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                     stderr=self.errf, text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:")
        self.http = requests.Session()

    def ctl(self, method, path, body=None, expect=200):
        r = self.http.request(method, self.url + "/_emulator/" + path,
                              data=None if body is None else json.dumps(body))
        assert r.status_code == expect, r.text
        return r.json()

    def requests_since(self, seq=0):
        return self.ctl("GET", f"requests?since={seq}")["requests"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.errf.seek(0)
        err = self.errf.read().decode(errors="replace")
        self.errf.close()
        return self.proc.returncode, err


@pytest.fixture(scope="module")
def emu():
    e = Emulator()
    yield e
    rc, err = e.stop()
    assert rc == 0, err


@pytest.fixture(scope="module")
def sa_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("sa")
    out = {}
    for name in ("a", "b"):
        p = d / f"{name}.json"
        subprocess.run([EMU_BIN, "keygen", "--out", str(p), "--email", f"sync-{name}@proj.iam.gserviceaccount.com"],
                       check=True, capture_output=True)
        out[name] = json.loads(p.read_text())
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RecordingApi(h.Api):
    """An Api that keeps every response body for the leak search."""

    def __init__(self, db, **env):
        self.bodies = []
        super().__init__(db, **env)

    def request(self, method, path, key=None, **kw):
        r = super().request(method, path, key, **kw)
        self.bodies.append(r.text)
        for hist in r.history:
            self.bodies.append(hist.headers.get("Location", "") + hist.text)
        self.bodies.append(r.headers.get("Location", ""))
        return r


def google_env(emu_url, port, GWSYNC_GOOGLE_OAUTH_CLIENT_ID=CLIENT_ID, **extra):
    env = {
        "GWSYNC_HTTP_LISTEN": f"127.0.0.1:{port}",
        "GWSYNC_GOOGLE_API_URL": emu_url,
        "GWSYNC_GOOGLE_TOKEN_URL": emu_url + "/token",
        "GWSYNC_GOOGLE_AUTH_URL": emu_url + "/o/oauth2/v2/auth",
        "GWSYNC_GOOGLE_ALLOW_HTTP": "true",
        "GWSYNC_GOOGLE_RETRY_BASE_MS": "10",
        "GWSYNC_GOOGLE_RETRY_CAP_MS": "50",
        "GWSYNC_GOOGLE_CONNECT_TIMEOUT_MS": "1000",
        "GWSYNC_GOOGLE_TIMEOUT_MS": "5000",
        "GWSYNC_GOOGLE_OAUTH_CLIENT_ID": GWSYNC_GOOGLE_OAUTH_CLIENT_ID,
        "GWSYNC_GOOGLE_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "GWSYNC_OAUTH_REDIRECT_URL": f"http://127.0.0.1:{port}/v1/oauth/callback",
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def sql(db, statement, *args):
    return h.sql(db, statement, *args)


def dump_tables(db):
    text = []
    for (table,) in sql(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"):
        text += [r[0] for r in sql(db, f'SELECT t::text FROM "{table}" t')]
    return "\n".join(text)


class Ctx:
    def __init__(self, db, emu, sa_keys):
        self.db, self.emu, self.sa = db, emu, sa_keys
        self.apis = []
        self.key = None

    def start(self, **extra):
        port = free_port()
        client_id = f"gwsync-{port}.apps.googleusercontent.com"
        env = google_env(self.emu.url, port, GWSYNC_GOOGLE_OAUTH_CLIENT_ID=client_id, **extra)
        api = RecordingApi(self.db, **env)
        api.client_id = client_id
        self.apis.append(api)
        self.emu.ctl("POST", "oauth-clients", {"client_id": client_id, "client_secret": CLIENT_SECRET,
                                               "redirect_uris": [f"http://127.0.0.1:{port}/v1/oauth/callback"]})
        return api

    def secrets(self):
        out = [CLIENT_SECRET, KEY_A.split(":")[1], KEY_B.split(":")[1], "PRIVATE KEY", "ya29.", "1//", "1%2F%2F"]
        for k in self.sa.values():
            body = "".join(k["private_key"].splitlines()[1:-1])
            out += [body[i:i + 40] for i in range(0, len(body) - 40, 200)]
        return out

    def leak_check(self):
        haystacks = {"db": dump_tables(self.db)}
        for i, api in enumerate(self.apis):
            haystacks[f"responses{i}"] = "\n".join(api.bodies)
            haystacks[f"log{i}"] = api.process.all_output()
        for where, text in haystacks.items():
            for s in self.secrets():
                assert s not in text, f"secret {s[:12]}... found in {where}"


@pytest.fixture
def ctx(db, emu, sa_keys):
    emu.ctl("POST", "reset", {})
    emu.ctl("POST", "service-accounts", sa_keys["a"])
    c = Ctx(db, emu, sa_keys)
    c.key = h.create_key(db, "acme", "editor")
    yield c
    for api in c.apis:
        if api.process.proc.poll() is None:
            status, _ = api.stop()
            h.assert_clean_exit(status, api.process)
    c.leak_check()


def new_integration(api, key, name="Main", domains=()):
    r = api.post("/v1/integrations", key=key, json={"name": name})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    for d in domains:
        assert api.post(f"/v1/integrations/{iid}/domains", key=key, json={"domain": d}).status_code == 201
    return iid


def authorize_sa(api, key, iid, sa, admin="admin@example.com"):
    return api.post(f"/v1/integrations/{iid}/authorization", key=key,
                    json={"type": "service_account", "key": sa, "admin_email": admin})


def consent(api, key, iid, admin=None):
    body = {"type": "oauth"}
    if admin:
        body["admin_email"] = admin
    r = api.post(f"/v1/integrations/{iid}/authorization", key=key, json=body)
    assert r.status_code == 200, r.text
    return r.json()["consent_url"]


def follow_consent(api, url):
    """The admin's browser: the consent page redirects to gwsync's callback, which answers."""
    r = requests.get(url, allow_redirects=False, timeout=30)
    api.bodies.append(r.text + r.headers.get("Location", ""))
    if r.status_code != 302:
        return r, None
    loc = r.headers["Location"]
    parts = urllib.parse.urlsplit(loc)
    cb = api.get(parts.path + "?" + parts.query, allow_redirects=False)
    return cb, parts.path + "?" + parts.query


def test_service_account_success(ctx):
    api = ctx.start()
    emu = ctx.emu
    emu.ctl("POST", "domains", {"domainName": "other.example.org", "verified": False})
    emu.ctl("POST", "domains", {"domainName": "second.example.net", "verified": True})
    iid = new_integration(api, ctx.key, domains=("example.com", "other.example.org", "notgoogle.test"))
    r = authorize_sa(api, ctx.key, iid, ctx.sa["a"])
    assert r.status_code == 200, r.text
    body = r.json()
    info = emu.ctl("GET", "info")
    assert body["integration"]["status"] == "active"
    h.assert_schema(body, "AuthorizationResult")
    assert body["integration"]["google"] == {"customer_id": info["customerId"], "primary_domain": "example.com"}
    assert {d["domain"]: d["verified"] for d in body["google"]["domains"]} == {
        "example.com": True, "other.example.org": False, "second.example.net": True}
    a = body["authorization"]
    assert a["type"] == "service_account" and a["client_email"] == ctx.sa["a"]["client_email"]
    assert a["client_id"] == ctx.sa["a"]["client_id"] and a["admin_email"] == "admin@example.com"
    assert a["last_error"] is None and a["authorized_at"] and a["last_used_at"]
    assert SCOPE + "admin.directory.user" in a["scopes"]
    # verified flags on the integration's own domains; Google's extra domains are not added
    doms = {d["domain"]: d["verified"] for d in api.get(f"/v1/integrations/{iid}/domains", key=ctx.key).json()["items"]}
    assert doms == {"example.com": True, "other.example.org": False, "notgoogle.test": False}
    got = api.get(f"/v1/integrations/{iid}/authorization", key=ctx.key)
    assert got.status_code == 200 and got.json()["integration_status"] == "active"
    h.assert_schema(got.json(), "Authorization")
    assert "secret" not in got.text and "private" not in got.text
    # the JWT grant and the probe reached the emulator
    routes = [x["route"] for x in emu.requests_since()]
    for route in ("oauth2.token", "directory.customers.get", "directory.users.list",
                  "directory.groups.list", "directory.domains.list"):
        assert route in routes, routes
    # audited, without the secret
    events = api.get("/v1/audit-events", key=ctx.key).json()["items"]
    ev = [e for e in events if e["resource_type"] == "integration_authorization"]
    assert ev and ev[0]["action"] == "authorize" and "secret" not in json.dumps(ev[0])
    assert sql(ctx.db, "SELECT key_id, secret LIKE 'v1.test1.%%' FROM integration_credentials") == [("test1", True)]
    # the Google client's metrics
    m = api.get("/metrics").text
    assert 'gwsync_google_requests_total{method="GET",outcome="ok"}' in m
    assert "gwsync_google_request_duration_seconds_count" in m
    # verify re-runs the probe
    v = api.post(f"/v1/integrations/{iid}/authorization/verify", key=ctx.key)
    assert v.status_code == 200 and v.json()["integration"]["status"] == "active", v.text


def test_missing_privileges_named_then_verify(ctx):
    api = ctx.start()
    emu = ctx.emu
    emu.ctl("POST", "admins", {"email": "helpdesk@example.com", "privileges": ["users", "customer"]})
    emu.ctl("POST", "admins", {"email": "viewer@example.com", "privileges": ["customer"]})
    iid = new_integration(api, ctx.key)
    r = authorize_sa(api, ctx.key, iid, ctx.sa["a"], admin="helpdesk@example.com")
    p = h.assert_problem(r, 403, "google-missing-privileges")
    assert p["missing_privileges"] == ["Groups Admin", "Domain Management"]
    assert "Groups Admin" in p["detail"] and "Domain Management" in p["detail"]
    it = api.get(f"/v1/integrations/{iid}", key=ctx.key).json()
    assert it["status"] == "pending_authorization"
    assert it["google"]["customer_id"] == emu.ctl("GET", "info")["customerId"]
    a = api.get(f"/v1/integrations/{iid}/authorization", key=ctx.key).json()
    assert a["last_error"]["reason"] == "missing_privileges" and "Groups Admin" in a["last_error"]["message"]
    r = authorize_sa(api, ctx.key, iid, ctx.sa["a"], admin="viewer@example.com")
    assert h.assert_problem(r, 403, "google-missing-privileges")["missing_privileges"] == PRIVS
    # the admin gets the privileges; verify activates
    emu.ctl("POST", "admins", {"email": "viewer@example.com", "privileges": ["users", "groups", "domains", "customer"]})
    v = api.post(f"/v1/integrations/{iid}/authorization/verify", key=ctx.key)
    assert v.status_code == 200, v.text
    assert v.json()["integration"]["status"] == "active"
    assert api.get(f"/v1/integrations/{iid}/authorization", key=ctx.key).json()["last_error"] is None


def test_unknown_admin_and_bad_requests(ctx):
    api = ctx.start()
    iid = new_integration(api, ctx.key)
    p = h.assert_problem(authorize_sa(api, ctx.key, iid, ctx.sa["a"], admin="ghost@example.com"), 422,
                         "google-invalid-grant")
    assert p["google_error"] == "invalid_grant" and "Invalid email or User ID" in p["detail"]
    assert api.get(f"/v1/integrations/{iid}", key=ctx.key).json()["status"] == "pending_authorization"
    h.assert_problem(api.get(f"/v1/integrations/{iid}/authorization", key=ctx.key), 404, "not-authorized")
    h.assert_problem(api.post(f"/v1/integrations/{iid}/authorization/verify", key=ctx.key), 409, "not-authorized")
    bad = dict(ctx.sa["a"], private_key="-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    p = h.assert_problem(authorize_sa(api, ctx.key, iid, bad), 422, "key-invalid")
    assert p["errors"][0]["pointer"] == "/key"
    p = h.assert_problem(api.post(f"/v1/integrations/{iid}/authorization", key=ctx.key,
                                  json={"type": "service_account", "key": ctx.sa["a"]}), 400, "validation")
    assert p["errors"][0]["pointer"] == "/admin_email"
    h.assert_problem(api.post(f"/v1/integrations/{iid}/authorization", key=ctx.key, json={"type": "x"}), 400)
    reader = h.create_key(ctx.db, "acme", "reader")
    h.assert_problem(authorize_sa(api, reader, iid, ctx.sa["a"]), 403, "forbidden")
    # a secret-carrying request is never kept for Idempotency-Key replays
    r = api.post(f"/v1/integrations/{iid}/authorization", key=ctx.key, headers={"Idempotency-Key": "k1"},
                 json={"type": "service_account", "key": ctx.sa["a"], "admin_email": "admin@example.com"})
    h.assert_problem(r, 400, "idempotency-unsupported")


def test_delegation_not_set_up(ctx):
    api = ctx.start()
    b = ctx.sa["b"]
    ctx.emu.ctl("POST", "service-accounts", {**b, "scopes": [SCOPE + "admin.directory.user"]})
    iid = new_integration(api, ctx.key)
    p = h.assert_problem(authorize_sa(api, ctx.key, iid, b), 403, "google-unauthorized-client")
    assert p["client_id"] == b["client_id"] and b["client_id"] in p["detail"]
    assert SCOPE + "admin.directory.group" in p["scopes"] and SCOPE + "admin.directory.group" in p["detail"]
    assert p["google_error"] == "unauthorized_client"


@pytest.mark.parametrize("switch,slug,reason", [
    ({"apiAccess": False}, "google-edition-unsupported", "domainCannotUseApis"),
    ({"sdkDisabled": True}, "google-api-disabled", "accessNotConfigured"),
])
def test_account_setup_problems(ctx, switch, slug, reason):
    api = ctx.start()
    ctx.emu.ctl("PUT", "config", switch)
    iid = new_integration(api, ctx.key)
    p = h.assert_problem(authorize_sa(api, ctx.key, iid, ctx.sa["a"]), 403, slug)
    assert p["google_error"] == reason
    assert api.get(f"/v1/integrations/{iid}", key=ctx.key).json()["status"] == "pending_authorization"


def test_google_unreachable(ctx):
    closed = f"http://127.0.0.1:{free_port()}"
    api = ctx.start(GWSYNC_GOOGLE_API_URL=closed, GWSYNC_GOOGLE_TOKEN_URL=closed + "/token")
    iid = new_integration(api, ctx.key)
    h.assert_problem(authorize_sa(api, ctx.key, iid, ctx.sa["a"]), 503, "google-unreachable")
    assert api.get(f"/v1/integrations/{iid}", key=ctx.key).json()["status"] == "pending_authorization"


def test_one_google_account_per_tenant(ctx):
    api = ctx.start()
    first = new_integration(api, ctx.key, "First")
    second = new_integration(api, ctx.key, "Second")
    assert authorize_sa(api, ctx.key, first, ctx.sa["a"]).status_code == 200
    p = h.assert_problem(authorize_sa(api, ctx.key, second, ctx.sa["a"]), 409, "google-account-in-use")
    assert p["integration_id"] == first and first in p["detail"] and "First" in p["detail"]
    assert api.get(f"/v1/integrations/{second}", key=ctx.key).json()["status"] == "pending_authorization"
    # re-authorizing the same integration is fine
    assert authorize_sa(api, ctx.key, first, ctx.sa["a"]).status_code == 200
    # another tenant may connect the same Google account
    other = h.create_key(ctx.db, "globex", "editor")
    third = new_integration(api, other, "Third")
    assert authorize_sa(api, other, third, ctx.sa["a"]).status_code == 200


def test_consent_flow_end_to_end(ctx):
    api = ctx.start()
    iid = new_integration(api, ctx.key, domains=("example.com",))
    url = consent(api, ctx.key, iid, admin="admin@example.com")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert url.startswith(ctx.emu.url + "/o/oauth2/v2/auth?")
    assert q["client_id"] == [api.client_id] and q["access_type"] == ["offline"] and q["prompt"] == ["consent"]
    assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43
    assert q["response_type"] == ["code"] and q["login_hint"] == ["admin@example.com"]
    assert SCOPE + "admin.directory.user" in q["scope"][0].split()
    assert len(q["state"][0]) >= 43
    assert q["redirect_uri"] == [api.base + "/v1/oauth/callback"]
    cb, _ = follow_consent(api, url)
    assert cb.status_code == 200, cb.text
    body = cb.json()
    assert body["integration"]["status"] == "active" and body["authorization"]["type"] == "oauth"
    assert body["authorization"]["client_id"] == api.client_id
    assert body["authorization"]["admin_email"] == "admin@example.com"
    # the state is stored hashed only
    rows = sql(ctx.db, "SELECT state_hash, used_at IS NOT NULL FROM oauth_states")
    assert rows and rows[0][1] and q["state"][0] not in dump_tables(ctx.db)
    # the consent came from the key that asked: audited as such
    events = api.get("/v1/audit-events", key=ctx.key).json()["items"]
    assert any(e["resource_type"] == "integration_authorization" and e["action"] == "authorize" for e in events)
    v = api.post(f"/v1/integrations/{iid}/authorization/verify", key=ctx.key)
    assert v.status_code == 200, v.text


def test_consent_with_return_url(ctx):
    api = ctx.start(GWSYNC_OAUTH_RETURN_URL="https://console.example/integrations/done")
    iid = new_integration(api, ctx.key)
    cb, _ = follow_consent(api, consent(api, ctx.key, iid))
    assert cb.status_code == 302
    loc = urllib.parse.urlsplit(cb.headers["Location"])
    assert loc.netloc == "console.example" and loc.path == "/integrations/done"
    assert urllib.parse.parse_qs(loc.query) == {"integration_id": [iid], "outcome": ["authorized"]}
    ctx.emu.ctl("PUT", "config", {"consent": "access_denied"})
    cb, _ = follow_consent(api, consent(api, ctx.key, iid))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(cb.headers["Location"]).query)
    assert cb.status_code == 302 and q["outcome"] == ["failed"] and q["problem"] == ["google-access-denied"]


def test_consent_refused(ctx):
    api = ctx.start()
    iid = new_integration(api, ctx.key)
    ctx.emu.ctl("PUT", "config", {"consent": "access_denied"})
    cb, _ = follow_consent(api, consent(api, ctx.key, iid))
    h.assert_problem(cb, 403, "google-access-denied")
    assert api.get(f"/v1/integrations/{iid}", key=ctx.key).json()["status"] == "pending_authorization"
    # admin_policy_enforced: Google shows its own error page and never comes back ...
    ctx.emu.ctl("PUT", "config", {"consent": "admin_policy_enforced"})
    url = consent(api, ctx.key, iid)
    r, path = follow_consent(api, url)
    assert r.status_code == 400 and "admin_policy_enforced" in r.text and path is None
    # ... or comes back with the error; either way gwsync names the fix
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["state"][0]
    cb = api.get("/v1/oauth/callback?" + urllib.parse.urlencode({"error": "admin_policy_enforced", "state": state}))
    p = h.assert_problem(cb, 403, "google-admin-policy-enforced")
    assert api.client_id in p["detail"] and "Trusted" in p["detail"]
    # and a service account of a blocked app fails at the token endpoint the same way
    p = h.assert_problem(authorize_sa(api, ctx.key, iid, ctx.sa["a"]), 403, "google-admin-policy-enforced")
    assert p["google_error"] == "admin_policy_enforced"


def test_state_missing_unknown_reused_expired(ctx):
    api = ctx.start()
    iid = new_integration(api, ctx.key)
    p = h.assert_problem(api.get("/v1/oauth/callback?code=abc"), 400, "oauth-state-invalid")
    assert p["state"] == "missing"
    p = h.assert_problem(api.get("/v1/oauth/callback?code=abc&state=" + "x" * 43), 400, "oauth-state-invalid")
    assert p["state"] == "unknown"
    cb, path = follow_consent(api, consent(api, ctx.key, iid))
    assert cb.status_code == 200
    p = h.assert_problem(api.get(path), 400, "oauth-state-invalid")
    assert p["state"] == "used"
    # expired: the consent took longer than 10 minutes
    url = consent(api, ctx.key, iid)
    sql(ctx.db, "UPDATE oauth_states SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
    cb, _ = follow_consent(api, url)
    assert h.assert_problem(cb, 400, "oauth-state-invalid")["state"] == "expired"
    # consent is refused for an integration of another tenant's key? the state binds the tenant
    other = h.create_key(ctx.db, "globex", "editor")
    h.assert_problem(api.post(f"/v1/integrations/{iid}/authorization", key=other, json={"type": "oauth"}), 404)


def test_consent_not_configured(ctx):
    api = ctx.start(GWSYNC_OAUTH_REDIRECT_URL=None)
    iid = new_integration(api, ctx.key)
    h.assert_problem(api.post(f"/v1/integrations/{iid}/authorization", key=ctx.key, json={"type": "oauth"}),
                     409, "oauth-not-configured")


def seed_and_bind(api, db, key, iid):
    tid = sql(db, "SELECT id FROM tenants WHERE name = 'acme'")[0][0]
    for u in ("u1", "u2"):
        sql(db, "INSERT INTO directory_users (tenant_id, id, email) VALUES (%s, %s, %s)", tid, u, f"{u}@example.com")
        assert api.request("PUT", f"/v1/integrations/{iid}/users/{u}", key=key).status_code in (200, 201)
    sql(db, "INSERT INTO user_links (tenant_id, integration_id, user_id, google_id, status) "
            "VALUES (%s, %s, 'u1', '1001', 'linked')", tid, iid)


def test_reauthorization_required_then_reactivated(ctx):
    api = ctx.start()
    emu = ctx.emu
    iid = new_integration(api, ctx.key)
    cb, _ = follow_consent(api, consent(api, ctx.key, iid))
    assert cb.status_code == 200 and cb.json()["integration"]["status"] == "active"
    seed_and_bind(api, ctx.db, ctx.key, iid)
    # Google revokes the grant (admin removed the app, or the token expired)
    emu.ctl("POST", "tokens/revoke", {"kind": "all"})
    v = api.post(f"/v1/integrations/{iid}/authorization/verify", key=ctx.key)
    p = h.assert_problem(v, 422, "google-invalid-grant")
    assert "Token has been expired or revoked" in p["detail"]
    it = api.get(f"/v1/integrations/{iid}", key=ctx.key).json()
    assert it["status"] == "reauthorization_required"
    a = api.get(f"/v1/integrations/{iid}/authorization", key=ctx.key).json()
    assert a["last_error"]["reason"] == "invalid_grant"
    api.process.wait_event("integration_reauthorization_required")
    # nothing more goes to Google until someone authorizes again
    seq = emu.requests_since()[-1]["seq"]
    h.assert_problem(api.post(f"/v1/integrations/{iid}/authorization/verify", key=ctx.key), 409,
                     "reauthorization-required")
    assert emu.requests_since(seq) == []
    # another admin authorizes with a service account: active again, bindings and links kept
    emu.ctl("POST", "admins", {"email": "second-admin@example.com", "isAdmin": True})
    r = authorize_sa(api, ctx.key, iid, ctx.sa["a"], admin="second-admin@example.com")
    assert r.status_code == 200, r.text
    assert r.json()["integration"]["status"] == "active"
    assert r.json()["authorization"]["type"] == "service_account"
    users = api.get(f"/v1/integrations/{iid}/users", key=ctx.key).json()["items"]
    assert sorted(u["user_id"] for u in users) == ["u1", "u2"]
    assert sql(ctx.db, "SELECT google_id FROM user_links WHERE user_id = 'u1'") == [("1001",)]
    assert api.post(f"/v1/integrations/{iid}/authorization/verify", key=ctx.key).status_code == 200


def test_rotate_secret(ctx):
    api = ctx.start()
    iid = new_integration(api, ctx.key)
    assert authorize_sa(api, ctx.key, iid, ctx.sa["a"]).status_code == 200
    other = new_integration(api, ctx.key, "Other")
    consent(api, ctx.key, other)  # a pending state, sealed too
    before = sql(ctx.db, "SELECT secret FROM integration_credentials")[0][0]
    status, _ = api.stop()
    h.assert_clean_exit(status, api.process)
    # without the old key nothing can be opened: nothing changes, exit 1
    p = h.run(["keys", "rotate-secret"], h.base_env(ctx.db, GWSYNC_SECRET_KEY=KEY_B), check=False)
    assert p.returncode == 1 and "could not be opened" in p.stderr
    assert sql(ctx.db, "SELECT secret FROM integration_credentials")[0][0] == before
    p = h.run(["keys", "rotate-secret"], h.base_env(ctx.db, GWSYNC_SECRET_KEY=KEY_B,
                                                    GWSYNC_SECRET_KEYS_PREVIOUS=KEY_A))
    assert "re-sealed 2 stored secrets" in p.stderr, p.stderr
    rows = sql(ctx.db, "SELECT key_id, secret FROM integration_credentials UNION ALL "
                       "SELECT key_id, secret FROM oauth_states")
    assert rows and all(k == "rot2" and s.startswith("v1.rot2.") for k, s in rows), rows
    assert before not in [s for _, s in rows]
    # a second run has nothing to do
    p = h.run(["keys", "rotate-secret"], h.base_env(ctx.db, GWSYNC_SECRET_KEY=KEY_B))
    assert "re-sealed 0 stored secrets" in p.stderr
    # with only the new key, the stored credential still works
    api2 = ctx.start(GWSYNC_SECRET_KEY=KEY_B)
    v = api2.post(f"/v1/integrations/{iid}/authorization/verify", key=ctx.key)
    assert v.status_code == 200, v.text
    # and with only the old key it does not (the secret is really re-sealed)
    api2.stop()
    api3 = ctx.start(GWSYNC_SECRET_KEY=KEY_A)
    v = api3.post(f"/v1/integrations/{iid}/authorization/verify", key=ctx.key)
    p = h.assert_problem(v, 500, "internal")
    assert "GWSYNC_SECRET_KEYS_PREVIOUS" in p["detail"]


def test_bad_secret_key_refused_at_start(db):
    p = h.run(["api"], h.base_env(db, GWSYNC_SECRET_KEY="k:Zm9vYmFy", GWSYNC_HTTP_LISTEN="127.0.0.1:0"),
              check=False, timeout=30)
    assert p.returncode != 0 and "GWSYNC_SECRET_KEY" in p.stdout + p.stderr
    assert "Zm9vYmFy" not in p.stdout + p.stderr


def test_verify_authorization_job_runs_in_the_worker(ctx):
    """The verify_authorization job type re-runs the probe on a worker, as the verify route does."""
    import time
    api = ctx.start()
    emu = ctx.emu
    iid = new_integration(api, ctx.key)
    assert authorize_sa(api, ctx.key, iid, ctx.sa["a"]).status_code == 200
    env = h.base_env(ctx.db, **google_env(ctx.emu.url, free_port()),
                     GWSYNC_KAFKA_GROUP="verify-" + os.urandom(4).hex())
    worker = h.Process(["worker"], env)
    try:
        worker.wait_event("worker_started")

        def run_job():
            r = api.post(f"/v1/integrations/{iid}/jobs", key=ctx.key, json={"type": "verify_authorization"})
            assert r.status_code == 202, r.text
            jid = r.json()["id"]
            deadline = time.monotonic() + 60
            while True:
                job = api.get(f"/v1/jobs/{jid}", key=ctx.key).json()
                if job["status"] not in ("queued", "running"):
                    return job
                assert time.monotonic() < deadline, job
                time.sleep(0.2)

        job = run_job()
        assert job["status"] == "succeeded", job
        assert job["counts"]["updated"] == 1 and job["progress"] == {"done": 1, "total": 1}
        # The admin loses a privilege: the job names what is missing, and so does the authorization.
        emu.ctl("POST", "admins", {"email": "admin@example.com", "privileges": ["users", "customer"],
                                   "isAdmin": False})
        job = run_job()
        assert job["status"] == "partially_failed", job
        items = api.get(f"/v1/jobs/{job['id']}/items", key=ctx.key).json()["items"]
        assert items[0]["object_id"] == iid and items[0]["outcome"] == "failed"
        assert "Groups Admin" in items[0]["error"]["message"]
        last = api.get(f"/v1/integrations/{iid}/authorization", key=ctx.key).json()["last_error"]
        assert last["reason"] == "missing_privileges" and "Groups Admin" in last["message"]
    finally:
        status, _ = worker.stop()
    h.assert_clean_exit(status, worker)
    for s in ctx.secrets():
        assert s not in worker.all_output()


def test_scheduler_marks_long_unused_integrations(ctx):
    """An integration whose credential was not used for the configured days needs authorizing again."""
    import time
    api = ctx.start()
    iid = new_integration(api, ctx.key)
    other = new_integration(api, ctx.key, name="Recently used")
    assert authorize_sa(api, ctx.key, iid, ctx.sa["a"]).status_code == 200
    sql(ctx.db, "UPDATE integration_credentials SET last_used_at = now() - interval '200 days', "
                "authorized_at = now() - interval '200 days' WHERE integration_id = %s", iid)
    api.stop()
    # A fresh api process: its scheduler checks at once, then once a minute.
    api2 = ctx.start(GWSYNC_REAUTHORIZE_AFTER_DAYS="180")
    deadline = time.monotonic() + 30
    while api2.get(f"/v1/integrations/{iid}", key=ctx.key).json()["status"] != "reauthorization_required":
        assert time.monotonic() < deadline, "the scheduler did not mark the unused integration"
        time.sleep(0.3)
    assert api2.get(f"/v1/integrations/{other}", key=ctx.key).json()["status"] == "pending_authorization"
    last = api2.get(f"/v1/integrations/{iid}/authorization", key=ctx.key).json()["last_error"]
    assert last["reason"] == "unused"
    # Authorizing again brings it back.
    assert authorize_sa(api2, ctx.key, iid, ctx.sa["a"]).status_code == 200
    assert api2.get(f"/v1/integrations/{iid}", key=ctx.key).json()["status"] == "active"


def domains_of(api, key, iid):
    return {d["domain"]: d["verified"]
            for d in api.get(f"/v1/integrations/{iid}/domains", key=key).json()["items"]}


def test_domains_added_after_authorization_are_checked_with_google(ctx):
    """On an authorized integration a domain is added only when Google lists it verified; the
    flags follow Google through verify and through the sync runs (a run asks Google when the
    last check is older than GWSYNC_DOMAINS_MAX_AGE_MS; 0 here: every run)."""
    import time
    api = ctx.start()
    emu = ctx.emu
    emu.ctl("POST", "domains", {"domainName": "pending.example.org", "verified": False})
    emu.ctl("POST", "domains", {"domainName": "second.example.net", "verified": True})
    iid = new_integration(api, ctx.key, domains=("example.com",))
    # before the authorization nothing is asked: the authorization sets the flag
    r = api.post(f"/v1/integrations/{iid}/domains", key=ctx.key, json={"domain": "later.example.org"})
    assert r.status_code == 201 and r.json()["verified"] is None, r.text
    assert authorize_sa(api, ctx.key, iid, ctx.sa["a"]).status_code == 200
    assert domains_of(api, ctx.key, iid) == {"example.com": True, "later.example.org": False}

    seq = emu.requests_since()[-1]["seq"]
    for domain in ("pending.example.org", "absent.example.net"):
        p = h.assert_problem(api.post(f"/v1/integrations/{iid}/domains", key=ctx.key, json={"domain": domain}),
                             422, "domain-not-verified")
        assert domain in p["detail"]
    assert "directory.domains.list" in [x["route"] for x in emu.requests_since(seq)]
    assert domains_of(api, ctx.key, iid) == {"example.com": True, "later.example.org": False}
    r = api.post(f"/v1/integrations/{iid}/domains", key=ctx.key, json={"domain": "Second.Example.NET"})
    assert r.status_code == 201, r.text
    assert r.json()["domain"] == "second.example.net" and r.json()["verified"] is True
    assert domains_of(api, ctx.key, iid)["second.example.net"] is True

    # Google drops the verification: verify refreshes the flags
    emu.ctl("POST", "domains", {"domainName": "second.example.net", "verified": False})
    emu.ctl("POST", "domains", {"domainName": "later.example.org", "verified": True})
    assert api.post(f"/v1/integrations/{iid}/authorization/verify", key=ctx.key).status_code == 200
    assert domains_of(api, ctx.key, iid) == {"example.com": True, "later.example.org": True,
                                            "second.example.net": False}

    # verified again in Google: the next sync run (an export on a worker) refreshes them
    emu.ctl("POST", "domains", {"domainName": "second.example.net", "verified": True})
    env = h.base_env(ctx.db, **google_env(ctx.emu.url, free_port()),
                     GWSYNC_KAFKA_GROUP="domains-" + os.urandom(4).hex(),
                     GWSYNC_DOMAINS_MAX_AGE_MS="0")
    worker = h.Process(["worker"], env)
    try:
        worker.wait_event("worker_started")
        r = api.post(f"/v1/integrations/{iid}/jobs", key=ctx.key, json={"type": "export_users"})
        assert r.status_code == 202, r.text
        jid = r.json()["id"]
        deadline = time.monotonic() + 120
        while (job := api.get(f"/v1/jobs/{jid}", key=ctx.key).json())["status"] in ("queued", "running"):
            # a dead worker (a sanitizer report) says why here rather than as a timeout
            assert worker.proc.poll() is None, worker.stderr_text[-3000:]
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "succeeded", job
        assert domains_of(api, ctx.key, iid)["second.example.net"] is True
    finally:
        status, _ = worker.stop()
    h.assert_clean_exit(status, worker)


def test_google_latency_is_cut_by_the_request_deadline_and_health_answers(ctx):
    """Google answers after 20 s: every Google call on an API request thread gives up after
    GWSYNC_GOOGLE_REQUEST_DEADLINE_MS with 503 google-unreachable (without the deadline a
    verify would outlast the client's 30-s timeout), and the health routes keep answering."""
    from concurrent.futures import ThreadPoolExecutor
    api = ctx.start(GWSYNC_HTTP_THREADS="4", GWSYNC_HEALTH_LISTEN="127.0.0.1:0",
                    GWSYNC_GOOGLE_REQUEST_DEADLINE_MS="1500", GWSYNC_GOOGLE_TIMEOUT_MS="30000")
    emu = ctx.emu
    emu.ctl("POST", "domains", {"domainName": "second.example.net", "verified": True})
    iid = new_integration(api, ctx.key, domains=("example.com",))
    other = new_integration(api, ctx.key, name="Consent")
    assert authorize_sa(api, ctx.key, iid, ctx.sa["a"]).status_code == 200
    url = consent(api, ctx.key, other)
    fault = emu.ctl("POST", "faults", {"latencyMs": 20000})
    try:
        verify = f"/v1/integrations/{iid}/authorization/verify"
        with ThreadPoolExecutor(max_workers=8) as pool:
            running = [pool.submit(api.post, verify, ctx.key) for _ in range(8)]
            r = requests.get(api.health_base + "/healthz", timeout=10)
            assert r.status_code == 200
            assert requests.get(api.health_base + "/readyz", timeout=10).status_code == 200
            answers = [f.result() for f in running]
        for r in answers:
            h.assert_problem(r, 503, "google-unreachable")
        assert api.get("/healthz").status_code == 200
        h.assert_problem(authorize_sa(api, ctx.key, iid, ctx.sa["a"]), 503, "google-unreachable")
        h.assert_problem(api.post(f"/v1/integrations/{iid}/domains", key=ctx.key,
                                  json={"domain": "second.example.net"}), 503, "google-unreachable")
        assert "second.example.net" not in domains_of(api, ctx.key, iid)
        # the consent callback: only the token exchange is slow
        emu.ctl("DELETE", f"faults/{fault['id']}")
        emu.ctl("POST", "faults", {"route": "oauth2.token", "latencyMs": 20000})
        cb, _ = follow_consent(api, url)
        h.assert_problem(cb, 503, "google-unreachable")
    finally:
        emu.ctl("DELETE", "faults")
    # nothing changed: the integration stays active and its flags as they were
    assert api.get(f"/v1/integrations/{iid}", key=ctx.key).json()["status"] == "active"
    assert api.get(f"/v1/integrations/{other}", key=ctx.key).json()["status"] == "pending_authorization"
