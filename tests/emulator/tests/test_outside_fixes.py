"""Defects found by trying the emulator from outside: batch parts, makeAdmin, config atomicity."""
from conftest import DIR, gerr
from test_batch import build, parse

MP = {"Content-Type": "multipart/mixed; boundary=batch_xyz"}


def test_batch_part_cannot_reach_control_api_or_oauth(emu):
    emu.new_user("keep@example.com")
    body = build([
        ("POST", "/_emulator/reset", {}),
        ("PUT", "/_emulator/config", {"quotaPerMinute": 1}),
        ("POST", "/token", None),
        ("POST", "/batch", None),
        ("GET", f"{DIR}/users/keep@example.com", None),
    ])
    r = emu.call("POST", "/batch", raw=body, headers=MP)
    assert r.status_code == 200
    res = parse(r)
    got = [res[f"<response-item{i}:12930812@sync>"][0] for i in range(5)]
    assert got == [404, 404, 404, 404, 200]
    assert emu.call("GET", f"{DIR}/users/keep@example.com").status_code == 200
    assert emu.ctl("GET", "config")["quotaPerMinute"] == 0


def test_delegated_admin_cannot_make_admin(emu):
    emu.ctl("POST", "admins", {"email": "deleg@example.com", "privileges": ["users"]})
    emu.new_user("plain@example.com")
    tok = emu.token("deleg@example.com", scopes=["admin.directory.user"])
    for who in ("deleg@example.com", "plain@example.com"):
        for status in (True, False):
            gerr(emu.call("POST", f"{DIR}/users/{who}/makeAdmin", {"status": status}, token=tok),
                 403, "forbidden", "Not Authorized to access this resource/api")
    for who in ("deleg@example.com", "plain@example.com"):
        assert emu.call("GET", f"{DIR}/users/{who}").json()["isAdmin"] is False
    # a super admin still can
    r = emu.call("POST", f"{DIR}/users/plain@example.com/makeAdmin", {"status": True})
    assert r.status_code == 204


def test_rejected_config_changes_nothing(emu):
    before = emu.ctl("GET", "config")
    for bad in ({"quotaPerMinute": 7, "quotaWindowMs": 0},
                {"tokenTtlS": 5, "deleteStatus": 201},
                {"create412Ms": 9, "consent": "maybe"},
                {"apiAccess": False, "consentUser": "nobody@example.com"},
                {"quotaPerMinute": 7, "apiAccess": "no"}):
        emu.ctl("PUT", "config", bad, expect=400)
        emu.ctl("PUT", "quota", bad, expect=400)
        assert emu.ctl("GET", "config") == before, bad


def test_invalid_utf8_body_is_parse_error(emu):
    good = '{"primaryEmail":"u8@example.com","name":{"givenName":"\u00c5sa","familyName":"B"},' \
           '"password":"12345678"}'.encode()
    for bad in (b'{"primaryEmail":"u8@example.com","name":{"givenName":"\xc3\x28","familyName":"B"},'
                b'"password":"12345678"}',
                b'{"primaryEmail":"u8@example.com","name":{"givenName":"\xff","familyName":"B"},'
                b'"password":"12345678"}'):
        r = emu.call("POST", f"{DIR}/users", raw=bad)
        assert r.status_code == 400, r.text
        e = r.json()["error"]
        assert e["message"].startswith("Invalid JSON payload received.")
        assert e["errors"][0]["reason"] == "parseError"
        assert emu.call("GET", f"{DIR}/users/u8@example.com").status_code == 404
        r = emu.call("PATCH", f"{DIR}/users/admin@example.com", raw=bad.replace(b"u8@", b"admin@"))
        assert r.status_code == 400
    assert emu.call("POST", f"{DIR}/users", raw=good).status_code == 200
    assert emu.call("GET", f"{DIR}/users/u8@example.com").json()["name"]["givenName"] == "\u00c5sa"


def test_apply_fault_not_used_up_by_failing_request(emu):
    emu.new_user("ap@example.com")
    emu.ctl("POST", "faults", {"route": "directory.users.update", "status": 409, "apply": True,
                               "times": 1})
    # fails on its own (no such user): the fault is not spent
    gerr(emu.call("PUT", f"{DIR}/users/missing@example.com", {"suspended": True}), 404, "notFound")
    assert emu.ctl("GET", "faults")["faults"][0]["times"] == 1
    r = emu.call("PUT", f"{DIR}/users/ap@example.com", {"suspended": True})
    assert r.status_code == 409
    assert emu.call("GET", f"{DIR}/users/ap@example.com").json()["suspended"] is True
    assert emu.ctl("GET", "faults")["faults"][0]["times"] == 0
    assert emu.call("PUT", f"{DIR}/users/ap@example.com", {"suspended": False}).status_code == 200


def test_query_word_match_includes_the_first_word(emu):
    """API-NOTES §4: `field:value` matches a word of the field, the first one as much as the rest."""
    import urllib.parse
    emu.new_user("multi@example.com", given="Alpha Beta", family="Ñúñez Gamma")
    for q in ("givenName:Alpha", "givenName:Beta", "familyName:Ñúñez", "familyName:Gamma", "Alpha"):
        r = emu.call("GET", f"{DIR}/users?customer=my_customer&query=" + urllib.parse.quote(q))
        assert r.status_code == 200, r.text
        assert [u["primaryEmail"] for u in r.json().get("users", [])] == ["multi@example.com"], q
    r = emu.call("GET", f"{DIR}/users?customer=my_customer&query=" + urllib.parse.quote("givenName:Alph"))
    assert "users" not in r.json()  # a word, not a prefix
