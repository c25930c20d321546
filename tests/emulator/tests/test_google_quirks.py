"""Google behaviour that directory sync tools trip over (API-NOTES §16), each switch off and on."""
import base64
import ctypes
import hashlib
import time

import pytest

from conftest import DIR, gerr
from test_batch import build, parse

BATCH_CT = {"Content-Type": "multipart/mixed; boundary=batch_xyz"}


def crypt(pw, salt):
    lc = ctypes.CDLL("libcrypt.so.1")
    lc.crypt.restype = ctypes.c_char_p
    lc.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lc.crypt(pw.encode(), salt.encode()).decode()


def users(emu, **params):
    r = emu.call("GET", DIR + "/users", params={"customer": "my_customer", **params})
    assert r.status_code == 200, r.text
    return [u["primaryEmail"] for u in r.json().get("users", [])]


def members(emu, group, **params):
    r = emu.call("GET", f"{DIR}/groups/{group}/members", params=params)
    assert r.status_code == 200, r.text
    return r.json().get("members", [])


# ---------------------------------------------------------------- soft-deleted users

def test_deleted_user_412_by_id_404_by_address(emu):
    uid = emu.new_user("gone@example.com")["id"]
    assert emu.call("DELETE", f"{DIR}/users/{uid}").status_code == 204
    gerr(emu.call("GET", f"{DIR}/users/{uid}"), 412, "conditionNotMet", "User is deleted.")
    gerr(emu.call("PUT", f"{DIR}/users/{uid}", {"suspended": True}), 412, "conditionNotMet",
         "User is deleted.")
    # documented choice: the address is freed at once, so by address the user is 404
    gerr(emu.call("GET", f"{DIR}/users/gone@example.com"), 404, "notFound",
         "Resource Not Found: userKey")
    assert "gone@example.com" not in users(emu)
    assert users(emu, showDeleted="true") == ["gone@example.com"]
    r = emu.call("GET", DIR + "/users", params={"customer": "my_customer", "showDeleted": "true"})
    assert "deletionTime" in r.json()["users"][0]
    assert emu.call("POST", f"{DIR}/users/{uid}/undelete", {}).status_code == 204
    assert emu.call("GET", f"{DIR}/users/{uid}").json()["primaryEmail"] == "gone@example.com"
    assert "gone@example.com" in users(emu)


def test_deleted_user_address_reusable_then_undelete_conflicts(emu):
    uid = emu.new_user("reuse@example.com")["id"]
    emu.call("DELETE", f"{DIR}/users/{uid}")
    emu.new_user("reuse@example.com", given="New")
    gerr(emu.call("POST", f"{DIR}/users/{uid}/undelete", {}), 409, "duplicate", "Entity already exists.")
    # undelete accepts only the id
    gerr(emu.call("POST", f"{DIR}/users/reuse@example.com/undelete", {}), 404, "notFound")


def test_deleted_user_412_as_batch_part(emu):
    uid = emu.new_user("bgone@example.com")["id"]
    emu.call("DELETE", f"{DIR}/users/{uid}")
    r = emu.call("POST", "/batch", raw=build([("GET", f"{DIR}/users/{uid}", None)]), headers=BATCH_CT)
    status, body = parse(r)["<response-item0:12930812@sync>"]
    assert status == 412
    assert '"User is deleted."' in body and '"conditionNotMet"' in body


def test_deleted_retention_switch(emu):
    assert emu.ctl("GET", "config")["deletedRetentionS"] == 20 * 86400
    emu.ctl("PUT", "config", {"deletedRetentionS": 0})
    uid = emu.new_user("purged@example.com")["id"]
    emu.call("DELETE", f"{DIR}/users/{uid}")
    time.sleep(0.01)
    gerr(emu.call("GET", f"{DIR}/users/{uid}"), 404, "notFound", "Resource Not Found: userKey")
    assert users(emu, showDeleted="true") == []
    gerr(emu.call("POST", f"{DIR}/users/{uid}/undelete", {}), 404, "notFound")


# ---------------------------------------------------------------- archived, suspensionReason

def test_archived_not_suspended(emu):
    emu.new_user("leaver@example.com", archived=True)
    u = emu.call("GET", f"{DIR}/users/leaver@example.com").json()
    assert u["archived"] is True and u["suspended"] is False and "suspensionReason" not in u
    assert users(emu, query="isArchived=true") == ["leaver@example.com"]


def test_suspension_reason_and_admin_cannot_unsuspend(emu):
    emu.new_user("s1@example.com")
    u = emu.call("PUT", f"{DIR}/users/s1@example.com", {"suspended": True}).json()
    assert u["suspensionReason"] == "ADMIN"
    assert emu.call("PUT", f"{DIR}/users/s1@example.com", {"suspended": False}).status_code == 200
    # suspended by Google for abuse: the API cannot lift it
    emu.ctl("POST", "users/s1@example.com/suspend", {"reason": "ABUSE"})
    u = emu.call("GET", f"{DIR}/users/s1@example.com").json()
    assert u["suspended"] is True and u["suspensionReason"] == "ABUSE"
    gerr(emu.call("PUT", f"{DIR}/users/s1@example.com", {"suspended": False}), 412,
         "adminCannotUnsuspend", "Cannot restore a user suspended for abuse.")
    gerr(emu.call("PATCH", f"{DIR}/users/s1@example.com", {"suspended": False}), 412,
         "adminCannotUnsuspend")
    # other writes still work; suspensionReason itself is read-only
    assert emu.call("PUT", f"{DIR}/users/s1@example.com",
                    {"suspensionReason": "ADMIN", "orgUnitPath": "/"}).status_code == 200
    assert emu.call("GET", f"{DIR}/users/s1@example.com").json()["suspensionReason"] == "ABUSE"


def test_suspension_reason_from_state(emu):
    emu.ctl("PUT", "state", {"users": [{"primaryEmail": "st@example.com", "suspended": True,
                                        "suspensionReason": "WEB_LOGIN_REQUIRED",
                                        "name": {"givenName": "S", "familyName": "T"}}]})
    assert emu.call("GET", f"{DIR}/users/st@example.com").json()["suspensionReason"] == "WEB_LOGIN_REQUIRED"


# ---------------------------------------------------------------- delegated admins

def test_delegated_admin_cannot_write_super_admin(emu):
    emu.ctl("POST", "admins", {"email": "helpdesk@example.com", "privileges": ["users"]})
    tok = emu.token("helpdesk@example.com")
    emu.new_user("plain@example.com")
    assert emu.call("PUT", f"{DIR}/users/plain@example.com", {"orgUnitPath": "/"}, token=tok).status_code == 200
    assert emu.call("GET", f"{DIR}/users/admin@example.com", token=tok).status_code == 200
    for method, path, body in [("PUT", "users/admin@example.com", {"suspended": True}),
                               ("PATCH", "users/admin@example.com", {"suspended": True}),
                               ("DELETE", "users/admin@example.com", None),
                               ("POST", "users/admin@example.com/aliases", {"alias": "boss@example.com"})]:
        gerr(emu.call(method, f"{DIR}/{path}", body, token=tok), 403, "forbidden",
             "Not Authorized to access this resource/api")
    # the super admin itself may
    assert emu.call("PUT", f"{DIR}/users/admin@example.com", {"orgUnitPath": "/"}).status_code == 200


# ---------------------------------------------------------------- members

def test_customer_and_group_member_entries(emu):
    cid = emu.ctl("GET", "info")["customerId"]
    emu.new_group("all@example.com")
    emu.new_group("sub@example.com")
    emu.new_user("m1@example.com")
    for body in [{"id": cid, "type": "CUSTOMER"}, {"email": "sub@example.com"}, {"email": "m1@example.com"}]:
        assert emu.call("POST", f"{DIR}/groups/all@example.com/members", body).status_code == 200, body
    ms = {m["type"]: m for m in members(emu, "all@example.com")}
    assert ms["CUSTOMER"]["id"] == cid
    assert "email" not in ms["CUSTOMER"] and "status" not in ms["CUSTOMER"]
    assert ms["GROUP"]["email"] == "sub@example.com" and ms["USER"]["status"] == "ACTIVE"
    # switch: status absent on every entry
    emu.ctl("PUT", "config", {"memberStatus": False})
    assert all("status" not in m for m in members(emu, "all@example.com"))


def test_member_listed_under_alias_it_was_added_with(emu):
    uid = emu.new_user("carol@example.com")["id"]
    emu.call("POST", f"{DIR}/users/carol@example.com/aliases", {"alias": "cj@example.com"})
    emu.new_group("team@example.com")
    r = emu.call("POST", f"{DIR}/groups/team@example.com/members", {"email": "cj@example.com"})
    assert r.json()["email"] == "cj@example.com" and r.json()["id"] == uid
    [m] = members(emu, "team@example.com")
    assert (m["email"], m["id"]) == ("cj@example.com", uid)
    assert emu.call("GET", f"{DIR}/groups/team@example.com/members/carol@example.com").json()["email"] == "cj@example.com"
    gerr(emu.call("POST", f"{DIR}/groups/team@example.com/members", {"email": "carol@example.com"}),
         409, "duplicate", "Member already exists.")
    emu.ctl("PUT", "config", {"memberAliasEmail": False})
    assert members(emu, "team@example.com")[0]["email"] == "carol@example.com"


@pytest.mark.parametrize("role", ["OWNER", "MANAGER"])
def test_owner_manager_is_a_member(emu, role):
    emu.new_user("o@example.com")
    emu.new_group("roles@example.com")
    r = emu.call("POST", f"{DIR}/groups/roles@example.com/members", {"email": "o@example.com", "role": role})
    assert r.json()["role"] == role
    assert members(emu, "roles@example.com")[0]["role"] == role
    for again in ["MEMBER", role]:
        gerr(emu.call("POST", f"{DIR}/groups/roles@example.com/members", {"email": "o@example.com", "role": again}),
             409, "duplicate", "Member already exists.")
    assert emu.call("GET", f"{DIR}/groups/roles@example.com/hasMember/o@example.com").json() == {"isMember": True}


def test_external_member_entry(emu):
    """An address outside the customer's domains is a USER entry (as Google lists it); a member
    inserted with type EXTERNAL keeps that type, so a client can be shown the entry §16 names."""
    emu.new_group("ext@example.com")
    r = emu.call("POST", f"{DIR}/groups/ext@example.com/members", {"email": "pal@gmail.com"})
    assert r.status_code == 200 and r.json()["type"] == "USER", r.text
    r = emu.call("POST", f"{DIR}/groups/ext@example.com/members", {"email": "guest@gmail.com", "type": "EXTERNAL"})
    assert r.status_code == 200 and r.json()["type"] == "EXTERNAL", r.text
    ms = {m["email"]: m["type"] for m in members(emu, "ext@example.com")}
    assert ms == {"pal@gmail.com": "USER", "guest@gmail.com": "EXTERNAL"}
    assert emu.call("DELETE", f"{DIR}/groups/ext@example.com/members/guest@gmail.com").status_code == 204


def test_roles_filter_switch(emu):
    emu.new_user("own@example.com")
    emu.new_user("mem@example.com")
    emu.new_group("rf@example.com")
    emu.call("POST", f"{DIR}/groups/rf@example.com/members", {"email": "own@example.com", "role": "OWNER"})
    emu.call("POST", f"{DIR}/groups/rf@example.com/members", {"email": "mem@example.com"})
    assert [m["role"] for m in members(emu, "rf@example.com", roles="OWNER")] == ["OWNER"]
    emu.ctl("PUT", "config", {"rolesFilter": False})
    assert [m["role"] for m in members(emu, "rf@example.com", roles="OWNER")] == ["OWNER", "MEMBER"]


def test_removing_a_gone_member_is_404(emu):
    uid = emu.new_user("bye@example.com")["id"]
    emu.new_group("g404@example.com")
    emu.call("POST", f"{DIR}/groups/g404@example.com/members", {"email": "bye@example.com"})
    emu.call("DELETE", f"{DIR}/users/{uid}")
    for key in ["bye@example.com", uid]:
        gerr(emu.call("DELETE", f"{DIR}/groups/g404@example.com/members/{key}"), 404, "notFound",
             "Resource Not Found: memberKey")


# ---------------------------------------------------------------- right after a create

def test_new_group_404_window(emu):
    emu.new_group("now@example.com")
    assert emu.call("GET", f"{DIR}/groups/now@example.com").status_code == 200
    emu.ctl("PUT", "config", {"newGroup404Ms": 400})
    emu.new_group("fresh@example.com")
    emu.new_user("fm@example.com")
    gerr(emu.call("GET", f"{DIR}/groups/fresh@example.com"), 404, "notFound", "Resource Not Found: groupKey")
    gerr(emu.call("POST", f"{DIR}/groups/fresh@example.com/members", {"email": "fm@example.com"}),
         404, "notFound", "Resource Not Found: groupKey")
    gerr(emu.call("GET", "/groups/v1/groups/fresh@example.com", params={"alt": "json"}), 404, "notFound",
         "Resource Not Found: groupUniqueId")
    time.sleep(0.45)
    assert emu.call("GET", f"{DIR}/groups/fresh@example.com").status_code == 200
    assert emu.call("POST", f"{DIR}/groups/fresh@example.com/members", {"email": "fm@example.com"}).status_code == 200


def test_new_user_404_window(emu):
    emu.ctl("PUT", "config", {"newUser404Ms": 400})
    uid = emu.new_user("fresh@example.com")["id"]
    gerr(emu.call("GET", f"{DIR}/users/{uid}"), 404, "notFound", "Resource Not Found: userKey")
    time.sleep(0.45)
    assert emu.call("GET", f"{DIR}/users/{uid}").status_code == 200
    emu.ctl("PUT", "config", {"newUser404Ms": 0})
    assert emu.call("GET", f"{DIR}/users/{emu.new_user('x@example.com')['id']}").status_code == 200


# ---------------------------------------------------------------- query

@pytest.mark.parametrize("path,params", [
    ("users", {"customer": "my_customer"}), ("groups", {"customer": "my_customer"})])
@pytest.mark.parametrize("query", ["", "name=O'Brien", "email:o'brien*", "O'Brien", "name='O'Brien'"])
def test_query_empty_or_apostrophe_is_invalid_input(emu, path, params, query):
    gerr(emu.call("GET", f"{DIR}/{path}", params={**params, "query": query}), 400, "invalid",
         "Invalid Input: query")


def test_query_escaped_apostrophe_and_quoted_spaces(emu):
    emu.new_user("obrien@example.com", given="Seán", family="O'Brien")
    assert users(emu, query=r"familyName='O\'Brien'") == ["obrien@example.com"]
    assert users(emu, query="familyName:\"O'Brien\"") == ["obrien@example.com"]
    emu.new_group("two@example.com", name="Two Words")
    emu.new_group("one@example.com", name="Two")
    r = emu.call("GET", DIR + "/groups", params={"customer": "my_customer", "query": "name='Two Words'"})
    assert [g["email"] for g in r.json()["groups"]] == ["two@example.com"]
    r = emu.call("GET", DIR + "/groups", params={"customer": "my_customer", "query": "name:Two* email:one*"})
    assert [g["email"] for g in r.json()["groups"]] == ["one@example.com"]
    gerr(emu.call("GET", DIR + "/groups", params={"customer": "my_customer", "query": "bogus=1"}),
         400, "invalid", "Invalid query")
    # groups take the escaped apostrophe too, inside a quoted value with a space
    emu.new_group("ob@example.com", name="O'Brien team")
    for q in [r"name='O\'Brien team'", "name=\"O'Brien team\""]:
        r = emu.call("GET", DIR + "/groups", params={"customer": "my_customer", "query": q})
        assert [g["email"] for g in r.json()["groups"]] == ["ob@example.com"], q


# ---------------------------------------------------------------- ambiguous 409 on a rename

def test_rename_applied_then_409_fault(emu):
    uid = emu.new_user("old@example.com")["id"]
    # off: a rename answers 200
    assert emu.call("PUT", f"{DIR}/users/{uid}", {"primaryEmail": "mid@example.com"}).status_code == 200
    emu.ctl("POST", "faults", {"route": "directory.users.update", "status": 409, "apply": True,
                               "renameOnly": True, "times": 1})
    # a write that keeps the address is not hit
    assert emu.call("PUT", f"{DIR}/users/{uid}", {"primaryEmail": "mid@example.com",
                                                  "orgUnitPath": "/"}).status_code == 200
    gerr(emu.call("PUT", f"{DIR}/users/{uid}", {"primaryEmail": "new@example.com"}), 409, "duplicate",
         "Entity already exists.")
    assert emu.call("GET", f"{DIR}/users/{uid}").json()["primaryEmail"] == "new@example.com"
    # times: 1 -> the next rename succeeds plainly
    assert emu.call("PUT", f"{DIR}/users/{uid}", {"primaryEmail": "last@example.com"}).status_code == 200


def test_apply_fault_not_fired_when_the_write_fails(emu):
    uid = emu.new_user("keep@example.com")["id"]
    emu.ctl("POST", "faults", {"route": "directory.users.update", "status": 409, "apply": True})
    gerr(emu.call("PUT", f"{DIR}/users/{uid}", {"primaryEmail": "x@nowhere.test"}), 403, "forbidden")


# ---------------------------------------------------------------- listing scope and domains

def test_customer_and_domain_restricts_to_domain(emu):
    emu.ctl("POST", "domains", {"domainName": "second.example"})
    emu.new_user("a@example.com")
    emu.new_user("b@second.example")
    emu.new_group("ga@example.com")
    emu.new_group("gb@second.example")
    assert "b@second.example" in users(emu)
    assert users(emu, domain="example.com") == ["a@example.com", "admin@example.com"]
    r = emu.call("GET", DIR + "/groups", params={"customer": "my_customer", "domain": "example.com"})
    assert [g["email"] for g in r.json()["groups"]] == ["ga@example.com"]
    r = emu.call("GET", DIR + "/groups", params={"customer": "my_customer"})
    assert [g["email"] for g in r.json()["groups"]] == ["ga@example.com", "gb@second.example"]


def test_unverified_domain_listed_but_not_listable(emu):
    emu.ctl("POST", "domains", {"domainName": "pending.example", "verified": False})
    r = emu.call("GET", f"{DIR}/customer/my_customer/domains")
    doms = {d["domainName"]: d["verified"] for d in r.json()["domains"]}
    assert doms == {"example.com": True, "pending.example": False}
    for path in ["users", "groups"]:
        gerr(emu.call("GET", f"{DIR}/{path}", params={"customer": "my_customer", "domain": "pending.example"}),
             404, "notFound", "Domain not found.")


# ---------------------------------------------------------------- groups, passwords, names

def test_group_name_limit_73_characters(emu):
    assert emu.new_group("n73@example.com", name="x" * 73)["name"] == "x" * 73
    assert emu.new_group("u73@example.com", name="é" * 73)["name"] == "é" * 73
    gerr(emu.call("POST", DIR + "/groups", {"email": "n74@example.com", "name": "x" * 74}), 400, "invalid",
         "Invalid Input: groupName")
    gerr(emu.call("PUT", f"{DIR}/groups/n73@example.com", {"name": "y" * 74}), 400, "invalid",
         "Invalid Input: groupName")


def test_crypt_rounds_and_ldap_hashes(emu):
    def insert(email, pw, fn):
        return emu.call("POST", DIR + "/users", {"primaryEmail": email, "password": pw, "hashFunction": fn,
                                                "name": {"givenName": "P", "familyName": "W"}})
    gerr(insert("r1@example.com", crypt("pw", "$6$rounds=10001$saltsalt$"), "crypt"), 400, "invalid",
         "Invalid Password")
    assert insert("r2@example.com", crypt("pw", "$6$rounds=10000$saltsalt$"), "crypt").status_code == 200
    assert insert("r3@example.com", crypt("pw", "$6$saltsalt$"), "crypt").status_code == 200
    ldap = "{SHA}" + base64.b64encode(hashlib.sha1(b"helloworld").digest()).decode()
    assert ldap == "{SHA}at+xg6SiyUovktq1redipHiJpaE="
    gerr(insert("r4@example.com", ldap, "SHA-1"), 400, "invalid", "Invalid Password")
    hexd = base64.b64decode(ldap[5:]).hex()
    assert insert("r4@example.com", hexd, "SHA-1").status_code == 200
    # the same rules for SHA-256 crypt and LDAP {MD5}
    gerr(insert("r5@example.com", crypt("pw", "$5$rounds=10001$saltsalt$"), "crypt"), 400, "invalid",
         "Invalid Password")
    assert insert("r5@example.com", crypt("pw", "$5$rounds=10000$saltsalt$"), "crypt").status_code == 200
    md5 = "{MD5}" + base64.b64encode(hashlib.md5(b"helloworld").digest()).decode()
    gerr(insert("r6@example.com", md5, "MD5"), 400, "invalid", "Invalid Password")
    assert insert("r6@example.com", hashlib.md5(b"helloworld").hexdigest(), "MD5").status_code == 200
    assert emu.ctl("POST", "users/r6@example.com/check-password", {"password": "helloworld"})["match"] is True


def test_non_ascii_names_round_trip(emu):
    names = [("José", "Núñez"), ("Zoë", "Ørsted"), ("太郎", "山田")]
    for i, (g, f) in enumerate(names):
        u = emu.new_user(f"n{i}@example.com", given=g, family=f)
        assert u["name"]["givenName"] == g and u["name"]["familyName"] == f
    got = emu.call("GET", f"{DIR}/users/n2@example.com").json()["name"]
    assert (got["givenName"], got["familyName"], got["fullName"]) == ("太郎", "山田", "太郎 山田")
    r = emu.call("GET", DIR + "/users", params={"customer": "my_customer", "query": "givenName:José"})
    assert [u["name"]["familyName"] for u in r.json()["users"]] == ["Núñez"]


def test_page_token_under_wrong_name_gives_page_one(emu):
    emu.ctl("POST", "seed", {"users": 5, "aliasesEvery": 0})
    p = {"customer": "my_customer", "maxResults": 2}
    first = emu.call("GET", DIR + "/users", params=p).json()
    again = emu.call("GET", DIR + "/users", params={**p, "page_token": first["nextPageToken"]}).json()
    assert again["users"] == first["users"] and again["nextPageToken"] == first["nextPageToken"]
    # the right name moves on; a repeated token answers the same page, so a client can spot the loop
    second = emu.call("GET", DIR + "/users", params={**p, "pageToken": first["nextPageToken"]}).json()
    assert second["users"] != first["users"] and second["nextPageToken"] != first["nextPageToken"]


# ---------------------------------------------------------------- control: check-password

@pytest.mark.parametrize("fn,make", [
    (None, lambda pw: pw),
    ("MD5", lambda pw: hashlib.md5(pw.encode()).hexdigest()),
    ("SHA-1", lambda pw: hashlib.sha1(pw.encode()).hexdigest().upper()),
    ("crypt", lambda pw: crypt(pw, "ab")),
    ("crypt", lambda pw: crypt(pw, "$1$abcdefgh$")),
    ("crypt", lambda pw: crypt(pw, "$5$rounds=6000$abcdefgh$")),
    ("crypt", lambda pw: crypt(pw, "$6$abcdefgh$")),
    ("crypt", lambda pw: crypt(pw, "$6$rounds=10000$abcdefgh$")),
])
def test_check_password(emu, fn, make):
    body = {"password": make("Tr0ub4dor&3")}
    if fn:
        body["hashFunction"] = fn
    uid = emu.new_user("pw@example.com", **body)["id"]
    for key in ["pw@example.com", uid]:
        assert emu.ctl("POST", f"users/{key}/check-password", {"password": "Tr0ub4dor&3"})["match"] is True
    r = emu.ctl("POST", "users/pw%40example.com/check-password", {"password": "tr0ub4dor&3"})
    assert r == {"match": False, "hashFunction": fn or ""}
    # a password changed through the API is what is checked afterwards
    emu.call("PUT", f"{DIR}/users/{uid}", {"password": "another-pass-1"})
    assert emu.ctl("POST", f"users/{uid}/check-password", {"password": "another-pass-1"})["match"] is True
    emu.ctl("POST", "users/nobody@example.com/check-password", {"password": "x"}, expect=404)


# ---------------------------------------------------------------- quota window, request log

def test_quota_is_a_rolling_window(emu):
    get = lambda: emu.call("GET", f"{DIR}/users/admin@example.com").status_code
    # off (the default): no limit
    assert emu.ctl("GET", "config")["quotaPerMinute"] == 0
    assert {get() for _ in range(20)} == {200}
    emu.ctl("PUT", "config", {"quotaPerMinute": 3, "quotaWindowMs": 1000})
    assert [get(), get()] == [200, 200]
    time.sleep(0.5)
    assert get() == 200
    gerr(emu.call("GET", f"{DIR}/users/admin@example.com"), 403, "userRateLimitExceeded")
    time.sleep(0.6)
    # the first two left the window; the third is still in it (a calendar window would reset all)
    assert [get(), get(), get()] == [200, 200, 403]
    assert emu.ctl("GET", "config")["quotaWindowMs"] == 1000


def test_request_log_paths_one_form(emu):
    emu.new_user("aa@example.com")
    emu.new_group("g@example.com")
    emu.ctl("DELETE", "requests")
    emu.call("GET", f"{DIR}/users/aa%40example.com")
    emu.call("POST", "/batch", raw=build([("GET", f"{DIR}/groups/g%40example.com/members", None),
                                          ("GET", f"{DIR}/users/aa@example.com", None)]), headers=BATCH_CT)
    log = emu.ctl("GET", "requests")["requests"]
    paths = [(e["path"], e["batchPart"]) for e in log if e["route"] != "batch"]
    assert paths == [(f"{DIR}/users/aa@example.com", False), (f"{DIR}/groups/g@example.com/members", True),
                     (f"{DIR}/users/aa@example.com", True)]
