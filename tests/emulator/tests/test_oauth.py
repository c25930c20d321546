"""OAuth: JWT bearer grant, authorization code + PKCE, refresh, consent page; scopes, privileges."""
import base64
import hashlib
import json
import subprocess
import time
import urllib.parse

import pytest

from conftest import BIN, DIR, SCOPE, claims, gerr, sign_jwt

JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("a", "b"):
        p = d / f"{name}.json"
        subprocess.run([BIN, "keygen", "--out", str(p), "--email", f"{name}@proj.iam.gserviceaccount.com"],
                       check=True, capture_output=True)
        out[name] = json.loads(p.read_text())
    out["dir"] = d
    return out


@pytest.fixture
def sa(emu, keys):
    emu.ctl("POST", "service-accounts", {**keys["a"], "scopes": [SCOPE + "admin.directory.user",
                                                                 SCOPE + "admin.directory.group.readonly"]})
    return keys["a"]


def grant(emu, assertion):
    return emu.http.post(emu.url + "/token", data={"grant_type": JWT, "assertion": assertion})


def oerr(r, status, error, desc=None):
    assert r.status_code == status, (r.status_code, r.text)
    j = r.json()
    assert j["error"] == error, j
    if desc is not None:
        assert j["error_description"] == desc, j


def test_keygen_format(keys):
    k = keys["a"]
    assert k["type"] == "service_account" and k["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")
    assert k["token_uri"] == "https://oauth2.googleapis.com/token" and k["client_id"].isdigit()
    assert len(k["private_key_id"]) == 40 and k["universe_domain"] == "googleapis.com"
    assert (keys["dir"] / "a.json").stat().st_mode & 0o077 == 0


def test_keygen_register(emu, tmp_path):
    p = tmp_path / "k.json"
    subprocess.run([BIN, "keygen", "--out", str(p), "--register", emu.url], check=True, capture_output=True)
    k = json.loads(p.read_text())
    r = grant(emu, sign_jwt(k, claims(k)))
    assert r.status_code == 200, r.text


def test_jwt_success_and_use(emu, sa):
    r = grant(emu, sign_jwt(sa, claims(sa)))
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["token_type"] == "Bearer" and j["expires_in"] == 3599 and j["access_token"].startswith("ya29.")
    assert "refresh_token" not in j
    ok = emu.call("GET", f"{DIR}/users/admin@example.com", token=j["access_token"])
    assert ok.status_code == 200
    # token scopes are enforced per method
    gerr(emu.call("GET", f"{DIR}/groups", token=j["access_token"], params={"customer": "my_customer"}),
         403, "insufficientPermissions", "Request had insufficient authentication scopes.")


def test_jwt_failures(emu, sa, keys):
    now = int(time.time())
    oerr(grant(emu, sign_jwt(keys["b"], claims(sa))), 400, "invalid_grant", "Invalid JWT Signature.")
    oerr(grant(emu, sign_jwt(keys["b"], claims(keys["b"]))), 400, "invalid_grant",
         "Invalid grant: account not found")
    short = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
             "Check your iat and exp values in the JWT claim.")
    oerr(grant(emu, sign_jwt(sa, claims(sa, iat=now, exp=now + 3601))), 400, "invalid_grant", short)
    oerr(grant(emu, sign_jwt(sa, claims(sa, iat=now + 3600, exp=now + 7000))), 400, "invalid_grant", short)
    oerr(grant(emu, sign_jwt(sa, claims(sa, iat=now - 7200, exp=now - 3600))), 400, "invalid_grant", short)
    oerr(grant(emu, sign_jwt(sa, claims(sa, aud="https://example.com/token"))), 400, "invalid_grant")
    oerr(grant(emu, sign_jwt(sa, claims(sa, sub="ghost@example.com"))), 400, "invalid_grant",
         "Invalid email or User ID")
    oerr(grant(emu, sign_jwt(sa, claims(sa, sub="example.com"))), 400, "invalid_request",
         'Invalid impersonation "sub" field: example.com')
    oerr(grant(emu, sign_jwt(sa, claims(sa, scope=SCOPE + "admin.directory.group"))), 401,
         "unauthorized_client",
         "Client is unauthorized to retrieve access tokens using this method, or client not authorized "
         "for any of the scopes requested.")
    oerr(grant(emu, sign_jwt(sa, claims(sa, scope=""))), 400, "invalid_scope")
    oerr(grant(emu, "a.b"), 400, "invalid_grant")
    oerr(emu.http.post(emu.url + "/token", data={"grant_type": "password"}), 400, "unsupported_grant_type")
    # a tampered payload fails the signature check
    good = sign_jwt(sa, claims(sa)).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(sa, sub="other@example.com")).encode()).rstrip(b"=")
    oerr(grant(emu, ".".join([good[0], forged.decode(), good[2]])), 400, "invalid_grant", "Invalid JWT Signature.")


def test_no_sub_and_non_admin(emu, sa):
    tok = grant(emu, sign_jwt(sa, claims(sa, sub=None))).json()["access_token"]
    gerr(emu.call("GET", f"{DIR}/users/admin@example.com", token=tok), 403, "forbidden",
         "Not Authorized to access this resource/api")
    emu.new_user("plain@example.com")
    tok = grant(emu, sign_jwt(sa, claims(sa, sub="plain@example.com"))).json()["access_token"]
    gerr(emu.call("GET", f"{DIR}/users/admin@example.com", token=tok), 403, "forbidden",
         "Not Authorized to access this resource/api")


def test_admin_role_service_account(emu, keys):
    emu.ctl("POST", "service-accounts", {**keys["b"], "adminRole": True})
    tok = grant(emu, sign_jwt(keys["b"], claims(keys["b"], sub=None))).json()["access_token"]
    assert emu.call("GET", f"{DIR}/users/admin@example.com", token=tok).status_code == 200


def test_delegated_admin_privileges(emu):
    emu.ctl("POST", "admins", {"email": "helpdesk@example.com", "privileges": ["users"]})
    tok = emu.token("helpdesk@example.com")
    assert emu.call("GET", f"{DIR}/users", token=tok, params={"customer": "my_customer"}).status_code == 200
    gerr(emu.call("GET", f"{DIR}/groups", token=tok, params={"customer": "my_customer"}), 403, "forbidden",
         "Not Authorized to access this resource/api")
    gerr(emu.call("GET", f"{DIR}/customer/my_customer/domains", token=tok), 403, "forbidden")
    u = emu.call("GET", f"{DIR}/users/helpdesk@example.com").json()
    assert u["isDelegatedAdmin"] is True and u["isAdmin"] is False


def test_token_errors(emu):
    r = emu.http.get(emu.url + f"{DIR}/users/admin@example.com")
    e = gerr(r, 401, "required", "Login Required.")
    assert e["status"] == "UNAUTHENTICATED" and e["errors"][0]["location"] == "Authorization"
    e = gerr(emu.call("GET", f"{DIR}/users/admin@example.com", token="ya29.bogus"), 401, "authError",
             "Invalid Credentials")
    tok = emu.token(ttlS=1)
    time.sleep(1.2)
    gerr(emu.call("GET", f"{DIR}/users/admin@example.com", token=tok), 401, "authError")
    # access_token query parameter works like the header
    r = emu.http.get(emu.url + f"{DIR}/users/admin@example.com", params={"access_token": emu.tok})
    assert r.status_code == 200


def test_readonly_scopes(emu):
    tok = emu.token(scopes=["admin.directory.user.readonly"])
    assert emu.call("GET", f"{DIR}/users/admin@example.com", token=tok).status_code == 200
    e = gerr(emu.call("POST", f"{DIR}/users", {"primaryEmail": "q@example.com"}, token=tok), 403,
             "insufficientPermissions")
    assert e["status"] == "PERMISSION_DENIED"
    assert e["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    tok = emu.token(scopes=["admin.directory.user.alias"])
    assert emu.call("GET", f"{DIR}/users/admin@example.com/aliases", token=tok).status_code == 200


def test_edition_and_sdk_disabled(emu):
    emu.ctl("PUT", "config", {"apiAccess": False})
    gerr(emu.call("GET", f"{DIR}/users/admin@example.com"), 403, "domainCannotUseApis", "Domain cannot use apis.")
    emu.ctl("PUT", "config", {"apiAccess": True, "sdkDisabled": True, "projectNumber": "42"})
    e = gerr(emu.call("GET", f"{DIR}/users/admin@example.com"), 403, "accessNotConfigured")
    assert e["message"].startswith("Admin SDK API has not been used in project 42 before or it is disabled.")
    assert e["details"][0]["reason"] == "SERVICE_DISABLED"


CLIENT = {"client_id": "cid.apps.googleusercontent.com", "client_secret": "sec",
          "redirect_uris": ["http://127.0.0.1:9/cb"]}


def authorize(emu, **over):
    ver = "v" * 50
    ch = base64.urlsafe_b64encode(hashlib.sha256(ver.encode()).digest()).rstrip(b"=").decode()
    p = {"client_id": CLIENT["client_id"], "redirect_uri": CLIENT["redirect_uris"][0], "response_type": "code",
         "scope": SCOPE + "admin.directory.user " + SCOPE + "admin.directory.group", "state": "xyz",
         "access_type": "offline", "prompt": "consent", "code_challenge": ch, "code_challenge_method": "S256"}
    p.update(over)
    r = emu.http.get(emu.url + "/o/oauth2/v2/auth", params=p, allow_redirects=False)
    return r, ver


def exchange(emu, code, ver, **over):
    d = {"grant_type": "authorization_code", "code": code, "client_id": CLIENT["client_id"],
         "client_secret": CLIENT["client_secret"], "redirect_uri": CLIENT["redirect_uris"][0],
         "code_verifier": ver}
    d.update(over)
    return emu.http.post(emu.url + "/token", data={k: v for k, v in d.items() if v is not None})


def test_code_flow(emu):
    emu.ctl("POST", "oauth-clients", CLIENT)
    r, ver = authorize(emu)
    assert r.status_code == 302
    loc = urllib.parse.urlparse(r.headers["Location"])
    q = urllib.parse.parse_qs(loc.query)
    assert loc.netloc == "127.0.0.1:9" and q["state"] == ["xyz"] and q["code"]
    code = q["code"][0]
    oerr(exchange(emu, code, "w" * 50), 400, "invalid_grant", "Invalid code verifier.")
    oerr(exchange(emu, code, None), 400, "invalid_grant", "Missing code verifier.")
    oerr(exchange(emu, code, ver, client_secret="bad"), 401, "invalid_client")
    t = exchange(emu, code, ver)
    assert t.status_code == 200, t.text
    j = t.json()
    assert j["refresh_token"] and j["scope"].startswith(SCOPE) and j["token_type"] == "Bearer"
    assert emu.call("GET", f"{DIR}/users/admin@example.com", token=j["access_token"]).status_code == 200
    oerr(exchange(emu, code, ver), 400, "invalid_grant", "Bad Request")        # reused code
    ref = {"grant_type": "refresh_token", "refresh_token": j["refresh_token"],
           "client_id": CLIENT["client_id"], "client_secret": "sec"}
    r2 = emu.http.post(emu.url + "/token", data=ref)
    assert r2.status_code == 200 and "refresh_token" not in r2.json()
    emu.ctl("POST", "tokens/revoke", {"kind": "refresh"})
    oerr(emu.http.post(emu.url + "/token", data=ref), 400, "invalid_grant", "Token has been expired or revoked.")


def test_refresh_expiry(emu):
    emu.ctl("POST", "oauth-clients", CLIENT)
    emu.ctl("PUT", "config", {"refreshTtlS": 1})
    r, ver = authorize(emu)
    code = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)["code"][0]
    rt = exchange(emu, code, ver).json()["refresh_token"]
    time.sleep(1.2)
    oerr(emu.http.post(emu.url + "/token", data={"grant_type": "refresh_token", "refresh_token": rt,
                                                  "client_id": CLIENT["client_id"], "client_secret": "sec"}),
         400, "invalid_grant", "Token has been expired or revoked.")


def test_consent_refusals(emu):
    emu.ctl("POST", "oauth-clients", CLIENT)
    emu.ctl("PUT", "config", {"consent": "access_denied"})
    r, _ = authorize(emu)
    q = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)
    assert r.status_code == 302 and q == {"error": ["access_denied"], "state": ["xyz"]}
    emu.ctl("PUT", "config", {"consent": "admin_policy_enforced"})
    r, _ = authorize(emu)
    assert r.status_code == 400 and "admin_policy_enforced" in r.text
    # the token endpoint refuses the app's grants as well
    k = emu.ctl("POST", "tokens", {})  # control API mints regardless
    assert k["access_token"]
    oerr(emu.http.post(emu.url + "/token", data={"grant_type": "refresh_token", "refresh_token": "1//x",
                                                  "client_id": CLIENT["client_id"], "client_secret": "sec"}),
         400, "admin_policy_enforced")
    emu.ctl("PUT", "config", {"consent": "allow"})
    r, _ = authorize(emu, redirect_uri="http://evil/cb")
    assert r.status_code == 400 and "redirect_uri_mismatch" in r.text
    r, _ = authorize(emu, client_id="nope")
    assert r.status_code == 401 and "invalid_client" in r.text
