"""Differences found by trying the emulator from outside (issue 11, item 6)."""
import json
import subprocess

from conftest import BIN, DIR, SCOPE, Emulator, claims, gerr, sign_jwt

JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_fields_unknown_name_is_400(emu):
    emu.new_user("f@example.com")
    r = emu.call("GET", f"{DIR}/users/f@example.com", params={"fields": "primaryEmail,bogusField"})
    e = gerr(r, 400, "invalidParameter", "Invalid field selection primaryEmail,bogusField")
    assert e["errors"][0]["location"] == "fields"
    gerr(emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", "fields": "users(name/nickname)"}),
         400, "invalidParameter")
    # known names anywhere in the schemas pass, custom schema names are the customer's own
    for fields in ["primaryEmail,name/givenName", "users(id,emails(address)),nextPageToken",
                   "customSchemas(HR/costCode)", "*"]:
        path = f"{DIR}/users" if fields.startswith("users") else f"{DIR}/users/f@example.com"
        r = emu.call("GET", path, params={"customer": "my_customer", "fields": fields})
        assert r.status_code == 200, (fields, r.text)


def test_unknown_scope_is_invalid_scope(emu, tmp_path):
    p = tmp_path / "k.json"
    subprocess.run([BIN, "keygen", "--out", str(p), "--register", emu.url], check=True, capture_output=True)
    k = json.loads(p.read_text())
    for scope in [SCOPE + "admin.directory.bogus", SCOPE + "admin.directory.user nonsense",
                  SCOPE + "apps.groups.setings"]:
        r = emu.http.post(emu.url + "/token", data={"grant_type": JWT,
                                                    "assertion": sign_jwt(k, claims(k, scope=scope))})
        assert r.status_code == 400 and r.json()["error"] == "invalid_scope", (scope, r.text)
    r = emu.http.post(emu.url + "/token", data={"grant_type": JWT, "assertion": sign_jwt(
        k, claims(k, scope=SCOPE + "admin.directory.user"))})
    assert r.status_code == 200, r.text


def test_base_url_sets_token_uri_and_audience(tmp_path):
    e = Emulator("--listen", "0.0.0.0:0", "--base-url", "http://emu.staging.internal:8080/")
    try:
        info = e.ctl("GET", "info")
        assert info["baseUrl"] == "http://emu.staging.internal:8080"
        assert info["tokenUri"] == "http://emu.staging.internal:8080/token"
        p = tmp_path / "k.json"
        subprocess.run([BIN, "keygen", "--out", str(p), "--register", e.url], check=True, capture_output=True)
        k = json.loads(p.read_text())
        grant = lambda aud: e.http.post(e.url + "/token", data={
            "grant_type": JWT, "assertion": sign_jwt(k, claims(k, aud=aud))})
        assert grant("http://emu.staging.internal:8080/token").status_code == 200
        assert grant("https://oauth2.googleapis.com/token").status_code == 200
        assert grant(e.url + "/token").json()["error"] == "invalid_grant"
    finally:
        rc, err = e.stop()
    assert rc == 0, err


def test_bad_base_url_exits_2():
    r = subprocess.run([BIN, "--base-url", "emu:8080"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--base-url" in r.stderr
