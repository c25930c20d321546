"""POST /_emulator/seed/account: a realistic account from a JSON fixture or from a seed."""
from conftest import DIR


def seed(emu, body, expect=200):
    """seed/account resets the state (tokens too) unless reset is false: mint a new token."""
    r = emu.ctl("POST", "seed/account", body, expect=expect)
    if expect == 200:
        emu.tok = emu.token()
    return r


def all_users(emu, **params):
    out, tok = [], None
    while True:
        p = {"customer": "my_customer", "maxResults": 500, **params}
        if tok:
            p["pageToken"] = tok
        r = emu.call("GET", DIR + "/users", params=p).json()
        out += r.get("users", [])
        tok = r.get("nextPageToken")
        if not tok:
            return out


def ids(emu):
    """(id, address) of every user but the default state's admin (its id is random)."""
    return sorted((u["id"], u["primaryEmail"]) for u in all_users(emu)
                  if u["primaryEmail"] != "admin@example.com")


def test_generated_account_is_deterministic(emu):
    a = seed(emu, {"generate": {"seed": 42, "users": 120, "groups": 15},
                                        "returnFixture": True})
    ids_a = ids(emu)
    b = seed(emu, {"generate": {"seed": 42, "users": 120, "groups": 15},
                                        "returnFixture": True})
    ids_b = ids(emu)
    assert a["fixture"] == b["fixture"] and ids_a == ids_b and a["customerId"] == b["customerId"]
    groups_a = sorted((g["id"], g["email"]) for g in a["fixture"]["groups"])
    assert groups_a == sorted((g["id"], g["email"]) for g in b["fixture"]["groups"])
    listed = emu.call("GET", "/admin/directory/v1/groups?customer=my_customer&maxResults=200").json()["groups"]
    assert sorted((g["id"], g["email"]) for g in listed) == groups_a  # the same group ids in Google
    c = seed(emu, {"generate": {"seed": 43, "users": 120, "groups": 15}})
    assert ids(emu) != ids_a
    assert c["customerId"] != a["customerId"]
    assert a["users"] + a["deletedUsers"] == 121 and a["groups"] == 15 and a["domains"] == 3


def test_generated_account_is_realistic(emu):
    r = seed(emu, {"generate": {"seed": 7, "users": 400, "groups": 30}})
    users = all_users(emu)
    assert any(u["suspended"] and u["suspensionReason"] == "ABUSE" for u in users)
    assert any(u["suspended"] and u["suspensionReason"] == "ADMIN" for u in users)
    assert any(u["archived"] and not u["suspended"] for u in users)
    assert any(u.get("aliases") for u in users)
    assert any(u["primaryEmail"].endswith("@eu.example.com") for u in users)
    assert any(not u["name"]["givenName"].isascii() or not u["name"]["familyName"].isascii() for u in users)
    assert sum(u["isAdmin"] for u in users) == 2                  # admin@ and the generated one
    assert sum(u["isDelegatedAdmin"] for u in users) == 2
    assert len(all_users(emu, showDeleted="true")) == r["deletedUsers"] > 0
    doms = emu.call("GET", f"{DIR}/customer/my_customer/domains").json()["domains"]
    assert sorted(d["verified"] for d in doms) == [False, True, True]
    ms = emu.call("GET", f"{DIR}/groups/all-staff@example.com/members").json()["members"]
    assert {m["type"] for m in ms} == {"CUSTOMER", "GROUP"}
    eng = emu.call("GET", f"{DIR}/groups/engineering@example.com/members").json()["members"]
    assert {m["role"] for m in eng} == {"OWNER", "MANAGER", "MEMBER"}
    by_id = {u["id"]: u for u in users}
    assert any(m["email"] != by_id[m["id"]]["primaryEmail"] for m in eng)   # listed under an alias
    r = emu.call("GET", f"{DIR}/groups/engineering@example.com/hasMember/{eng[0]['id']}")
    assert r.json() == {"isMember": True}
    derived = emu.call("GET", f"{DIR}/groups/all-staff@example.com/members",
                       params={"includeDerivedMembership": "true"}).json()["members"]
    assert len(derived) > len(ms)
    # passwords are known: Passw0rd-<seed>-<index>
    u0 = users[0]
    assert emu.ctl("POST", f"users/{u0['id']}/check-password", {"password": "x"})["match"] is False


def test_seed_account_from_fixture(emu):
    fixture = {
        "customer": {"id": "C0fixture"},
        "domains": [{"domainName": "beta.example", "verified": False}],
        "orgUnits": ["/Sales"],
        "users": [
            {"id": "100000000000000000001", "primaryEmail": "boss@example.com", "isAdmin": True,
             "name": {"givenName": "Ana", "familyName": "Boss"}, "aliases": ["ana@example.com"]},
            {"primaryEmail": "abuser@example.com", "suspended": True, "suspensionReason": "ABUSE",
             "name": {"givenName": "A", "familyName": "B"}},
            {"primaryEmail": "help@example.com", "privileges": ["users"],
             "name": {"givenName": "H", "familyName": "D"}},
        ],
        "groups": [
            {"email": "outer@example.com", "id": "0outergroup0001", "aliases": ["out@example.com"],
             "members": [{"type": "CUSTOMER"}, {"email": "inner@example.com"},
                         {"email": "ana@example.com", "role": "OWNER"}]},
            {"email": "inner@example.com", "members": [{"email": "help@example.com", "role": "MANAGER"}]},
        ],
    }
    r = seed(emu, {"fixture": fixture})
    assert r["customerId"] == "C0fixture" and r["groups"] == 2
    assert emu.call("GET", f"{DIR}/users/100000000000000000001").json()["aliases"] == ["ana@example.com"]
    g = emu.call("GET", f"{DIR}/groups/out@example.com").json()
    assert g["id"] == "0outergroup0001" and g["directMembersCount"] == "3"
    ms = emu.call("GET", f"{DIR}/groups/outer@example.com/members").json()["members"]
    assert [(m["type"], m.get("email"), m["role"]) for m in ms] == [
        ("CUSTOMER", None, "MEMBER"), ("GROUP", "inner@example.com", "MEMBER"),
        ("USER", "ana@example.com", "OWNER")]
    assert ms[0]["id"] == "C0fixture"
    assert emu.call("GET", f"{DIR}/users/abuser@example.com").json()["suspensionReason"] == "ABUSE"
    # reset: false merges into the current state
    seed(emu, {"fixture": {"users": [{"primaryEmail": "more@example.com",
                                                            "name": {"givenName": "M", "familyName": "O"}}]},
                                     "reset": False})
    assert emu.call("GET", f"{DIR}/users/boss@example.com").status_code == 200
    assert seed(emu, {"fixture": {"users": [{"primaryEmail": "x@nowhere.test"}]}},
                   expect=400)["error"]
    seed(emu, {}, expect=400)


def test_seed_account_refuses_a_wrapped_fixture(emu):
    """{"fixture": {"state": {...}}} once answered 200 and seeded nothing: the fixture is the state."""
    before = ids(emu)
    err = seed(emu, {"fixture": {"state": {"users": [{"primaryEmail": "w@example.com"}]}}}, expect=400)
    assert "fixture.state" in err["error"], err
    assert ids(emu) == before
