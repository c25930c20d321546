"""Control API: a value of the wrong JSON type is a 400 {"error"}, never an abort."""
import pytest

from conftest import DIR

# (method, path, body) with one wrong-typed value each, covering every control call that reads JSON
WRONG = [
    ("PUT", "state", {"users": "nope"}),
    ("PUT", "state", {"groups": "nope"}),
    ("PUT", "state", {"domains": 5}),
    ("PUT", "state", {"domains": [5]}),
    ("PUT", "state", {"domains": [{"domainName": 5}]}),
    ("PUT", "state", {"domains": [{"domainName": "a.example.com", "verified": "yes"}]}),
    ("PUT", "state", {"orgUnits": "/x"}),
    ("PUT", "state", {"orgUnits": [5]}),
    ("PUT", "state", {"customer": "C1"}),
    ("PUT", "state", {"customer": {"id": 5}}),
    ("PUT", "state", {"groups": [{"email": "x@example.com", "members": "no"}]}),
    ("PUT", "state", {"users": [5]}),
    ("PUT", "state", {"users": [{"primaryEmail": 5}]}),
    ("PUT", "state", {"users": [{"primaryEmail": "t1@example.com", "aliases": "a@example.com"}]}),
    ("PUT", "state", {"users": [{"primaryEmail": "t2@example.com", "aliases": [5]}]}),
    ("PUT", "state", {"users": [{"primaryEmail": "t3@example.com", "privileges": "users"}]}),
    ("PUT", "state", {"users": [{"primaryEmail": "t4@example.com", "privileges": [5]}]}),
    ("PUT", "state", {"users": [{"primaryEmail": "t5@example.com", "isAdmin": "yes"}]}),
    ("PUT", "state", {"groups": [{"email": "x2@example.com", "members": [5]}]}),
    ("PUT", "state", {"groups": [{"email": "x3@example.com", "members": [{"type": 5}]}]}),
    ("PUT", "state", {"groups": [{"email": "x4@example.com", "aliases": [5]}]}),
    ("PUT", "state", {"groups": [{"email": "x5@example.com", "settings": "no"}]}),
    ("PUT", "state", {"groups": [5]}),
    ("PUT", "state", {"serviceAccounts": "x"}),
    ("PUT", "state", {"serviceAccounts": [5]}),
    ("PUT", "state", {"serviceAccounts": [{"client_email": "sa@x.iam", "private_key": 5}]}),
    ("PUT", "state", {"oauthClients": "x"}),
    ("PUT", "state", {"oauthClients": [{"client_id": "x", "client_secret": "y",
                                        "redirect_uris": [5]}]}),
    ("PUT", "state", {"config": "x"}),
    ("PUT", "state", {"config": {"consent": 5}}),
    ("POST", "state", {"users": "nope"}),
    ("POST", "seed/account", {"fixture": {"users": "nope"}}),
    ("POST", "seed/account", {"fixture": "x"}),
    ("POST", "seed/account", {"generate": "x"}),
    ("POST", "seed/account", {"generate": {"users": "5"}}),
    ("POST", "seed/account", {"fixture": {}, "reset": "no"}),
    ("POST", "seed", {"users": "5"}),
    ("POST", "seed", {"domain": 5}),
    ("POST", "reset", {"domain": 5}),
    ("POST", "domains", {"domainName": 5}),
    ("POST", "domains", {"domainName": "b.example.com", "verified": "no"}),
    ("POST", "orgunits", {"orgUnitPath": 5}),
    ("POST", "tokens", {"scopes": [5, None]}),
    ("POST", "tokens", {"scopes": 5}),
    ("POST", "tokens", {"subject": 5}),
    ("POST", "tokens", {"ttlS": "60"}),
    ("POST", "tokens", {"adminRole": "yes"}),
    ("POST", "tokens/revoke", {"kind": 5}),
    ("POST", "tokens/revoke", {"subject": []}),
    ("POST", "admins", {"email": "x@example.com", "privileges": "users"}),
    ("POST", "admins", {"email": "x@example.com", "privileges": [5]}),
    ("POST", "admins", {"email": 5}),
    ("POST", "admins", {"email": "x@example.com", "givenName": 5}),
    ("POST", "admins", {"email": "x@example.com", "isAdmin": "no"}),
    ("POST", "service-accounts", {"client_email": 5, "private_key": "k"}),
    ("POST", "service-accounts", {"client_email": "sa@x.iam", "private_key": "k", "scopes": [5]}),
    ("POST", "oauth-clients", {"client_id": "x", "client_secret": "y",
                               "redirect_uris": "notalist"}),
    ("POST", "oauth-clients", {"client_id": 5, "client_secret": "y"}),
    ("POST", "users/admin@example.com/check-password", {"password": 5}),
    ("POST", "users/admin@example.com/suspend", {"reason": 5}),
    ("POST", "users/admin@example.com/suspend", {"suspended": "yes"}),
    ("POST", "faults", {"status": "500"}),
    ("POST", "faults", {"status": 500, "route": 5}),
    ("POST", "faults", {"status": 500, "probability": "0.5"}),
    ("POST", "faults", {"status": 500, "apply": "yes"}),
    ("POST", "faults", {"latencyMs": "5"}),
    ("PUT", "config", {"quotaPerMinute": "7"}),
    ("PUT", "config", {"consent": 5}),
    ("PUT", "config", {"consentUser": []}),
    ("PUT", "config", {"apiAccess": "no"}),
    ("PUT", "config", {"projectNumber": 5}),
    ("PUT", "quota", {"quotaWindowMs": "7"}),
]


@pytest.mark.parametrize("method,path,body", WRONG, ids=[f"{m} {p} {b}" for m, p, b in WRONG])
def test_control_wrong_type_is_400(emu, method, path, body):
    before = emu.ctl("GET", "state")
    r = emu.ctl(method, path, body, expect=400)
    assert isinstance(r["error"], str) and r["error"]
    assert emu.ctl("GET", "health") == {"ok": True}
    assert emu.ctl("GET", "state") == before, "a rejected type check changed nothing"


def test_control_null_is_absent(emu):
    emu.ctl("POST", "tokens", {"scopes": None, "subject": None})
    emu.ctl("PUT", "config", {"quotaPerMinute": None})
    emu.ctl("PUT", "state", {"users": None, "groups": None})
    assert emu.call("GET", f"{DIR}/users/admin@example.com").status_code == 200


def test_control_right_types_still_work(emu):
    emu.ctl("POST", "admins", {"email": "d1@example.com", "privileges": ["users", "groups"]})
    emu.ctl("POST", "oauth-clients", {"client_id": "c1", "client_secret": "s",
                                      "redirect_uris": ["http://localhost/cb"]})
    emu.ctl("POST", "faults", {"status": 500, "probability": 1, "route": "directory.users.get",
                               "times": 1})
    emu.ctl("PUT", "state", {"groups": [{"email": "g1@example.com", "aliases": ["g1a@example.com"],
                                         "members": [{"email": "admin@example.com"}]}]})
    emu.ctl("POST", "tokens", {"scopes": "https://www.googleapis.com/auth/admin.directory.user"})
