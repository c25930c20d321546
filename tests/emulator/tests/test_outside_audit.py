"""Defects found by the issue-11 audit, trying the emulator from outside with bad input."""
import subprocess

import pytest

from conftest import BIN, DIR, gerr
from test_batch import build, parse

MP = {"Content-Type": "multipart/mixed; boundary=batch_xyz"}


def test_path_keys_are_decoded_once_and_nul_does_not_cut_them(emu):
    """CivetWeb decoded the path before the router did: "a%2540b" read as a@b, and %00 cut the
    key short, so users/admin@example.com%00junk answered the admin."""
    for key in ["admin@example.com%00junk", "admin%2540example.com"]:
        gerr(emu.call("GET", f"{DIR}/users/{key}"), 404, "notFound", "Resource Not Found: userKey")
        r = emu.call("POST", "/batch", raw=build([("GET", f"{DIR}/users/{key}", None)]), headers=MP)
        assert parse(r)["<response-item0:12930812@sync>"][0] == 404, key
    assert emu.call("GET", f"{DIR}/users/admin%40example.com").status_code == 200
    emu.ctl("POST", "users/admin@example.com%00x/check-password", {"password": "x"}, expect=404)
    emu.ctl("DELETE", "requests")
    emu.call("GET", f"{DIR}/users/admin%2540example.com")
    # the log shows the key Google sees: decoded once
    assert emu.ctl("GET", "requests")["requests"][-1]["path"] == f"{DIR}/users/admin%40example.com"


@pytest.mark.parametrize("path", ["users", "groups"])
def test_nul_page_token_is_invalid(emu, path):
    r = emu.call("GET", f"{DIR}/{path}?customer=my_customer&pageToken=%00")
    gerr(r, 400, "invalid", "Invalid page token")


@pytest.mark.parametrize("param,value,allowed", [
    ("projection", "bogus", "basic, custom, full"),
    ("viewType", "admin", "admin_view, domain_public"),
    ("event", "x", "add, delete, makeAdmin, undelete, update"),
])
def test_enum_parameters_are_checked(emu, param, value, allowed):
    e = gerr(emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", param: value}),
             400, "invalidParameter", f"Invalid value '{value}'. Values must be one of: {allowed}")
    assert e["errors"][0]["location"] == param
    if param != "event":
        gerr(emu.call("GET", f"{DIR}/users/admin@example.com", params={param: value}), 400, "invalidParameter")
    # the valid values, in any case, still work
    good = allowed.split(", ")[-1].upper()
    assert emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", param: good}).status_code == 200


def test_config_refuses_unknown_switches_and_out_of_range_values(emu):
    before = emu.ctl("GET", "config")
    for bad in ({"rolesFiltr": False}, {"perMinute": 5}, {"quotaPerMinute": -1},
                {"newGroup404Ms": 2 ** 31}, {"deletedRetentionS": -5}, {"concurrency": -1},
                {"memberStatus": False, "tokenTtlS": -1}):
        for call in ("config", "quota"):
            r = emu.ctl("PUT", call, bad, expect=400)
            assert r["error"], bad
        emu.ctl("PUT", "state", {"config": bad}, expect=400)
        assert emu.ctl("GET", "config") == before, bad
    # the whole of GET config goes back in unchanged
    assert emu.ctl("PUT", "config", before) == before
    assert emu.ctl("PUT", "config", {"newGroup404Ms": 2 ** 31 - 1})["newGroup404Ms"] == 2 ** 31 - 1


def test_suspend_reason_is_checked(emu):
    emu.new_user("s@example.com")
    for reason in ["", "abuse", "A" * 65, "NO SPACES"]:
        emu.ctl("POST", "users/s@example.com/suspend", {"reason": reason}, expect=400)
    assert emu.call("GET", f"{DIR}/users/s@example.com").json()["suspended"] is False
    emu.ctl("PUT", "state", {"users": [{"primaryEmail": "t@example.com", "suspended": True,
                                        "suspensionReason": "bad reason",
                                        "name": {"givenName": "T", "familyName": "T"}}]}, expect=400)
    emu.ctl("POST", "users/s@example.com/suspend", {"reason": "WEB_LOGIN_REQUIRED"})
    assert emu.call("GET", f"{DIR}/users/s@example.com").json()["suspensionReason"] == "WEB_LOGIN_REQUIRED"
    # a deleted user cannot be suspended (it was, silently)
    uid = emu.new_user("d@example.com")["id"]
    emu.call("DELETE", f"{DIR}/users/{uid}")
    emu.ctl("POST", f"users/{uid}/suspend", {}, expect=409)


def test_info_admin_and_reset_domain_survive_a_new_primary_domain(emu):
    """info's adminEmail was admin@<primary domain>, a user that need not exist; a reset without
    a domain kept the last primary domain instead of going back to --domain."""
    emu.ctl("PUT", "state", {"domains": [{"domainName": "other.example", "isPrimary": True}]})
    info = emu.ctl("GET", "info")
    assert (info["domain"], info["adminEmail"]) == ("other.example", "admin@example.com")
    assert emu.call("GET", f"{DIR}/users/{info['adminEmail']}").status_code == 200
    emu.ctl("POST", "reset", {})
    info = emu.ctl("GET", "info")
    assert (info["domain"], info["adminEmail"]) == ("example.com", "admin@example.com")
    emu.ctl("POST", "reset", {"domain": "corp.example"})
    assert emu.ctl("GET", "info")["adminEmail"] == "admin@corp.example"
    emu.ctl("POST", "reset", {})
    assert emu.ctl("GET", "info")["domain"] == "example.com"


def test_state_refuses_unknown_members(emu, tmp_path):
    """PUT state {"user": [...]} (a typo) answered 200 and loaded nothing, as seed/account once did."""
    r = emu.ctl("PUT", "state", {"user": [{"primaryEmail": "typo@example.com"}]}, expect=400)
    assert r["error"] == "user is not a member of the state format"
    assert emu.ctl("GET", "info")["users"] == 1
    p = tmp_path / "state.json"
    p.write_text('{"users": [], "grups": []}')
    run = subprocess.run([BIN, "--state", str(p), "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                         timeout=10)
    assert run.returncode == 1 and "grups is not a member of the state format" in run.stderr, run.stderr
