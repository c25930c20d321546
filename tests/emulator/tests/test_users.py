"""users.* and users.aliases.*: shapes, validation, namespace, update semantics, paging."""
import re

import pytest

from conftest import DIR, gerr

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_insert_shape(emu):
    u = emu.new_user("Liz.Lee@Example.com", "Liz", "Lee", externalIds=[{"value": "x1", "type": "organization"}],
                     isAdmin=True, creationTime="2000-01-01T00:00:00.000Z")
    assert u["kind"] == "admin#directory#user"
    assert u["primaryEmail"] == "liz.lee@example.com"      # lower-cased
    assert re.match(r"^\d{21}$", u["id"])
    assert u["etag"].startswith('"') and u["etag"].endswith('"')
    assert u["name"] == {"givenName": "Liz", "familyName": "Lee", "fullName": "Liz Lee"}
    assert u["isAdmin"] is False                             # read-only, ignored
    assert RFC3339.match(u["creationTime"]) and not u["creationTime"].startswith("2000")
    assert u["externalIds"] == [{"value": "x1", "type": "organization"}]
    assert u["orgUnitPath"] == "/" and u["customerId"].startswith("C0")
    assert "password" not in u and "aliases" not in u and "phones" not in u


def test_get_by_email_alias_id(emu):
    u = emu.new_user("a@example.com")
    r = emu.call("POST", f"{DIR}/users/a@example.com/aliases", {"alias": "al@example.com"})
    assert r.status_code == 200
    assert r.json() == {**r.json(), "kind": "admin#directory#alias", "primaryEmail": "a@example.com",
                        "alias": "al@example.com", "id": u["id"]}
    for key in ("a@example.com", "A%40EXAMPLE.com", "al@example.com", u["id"]):
        g = emu.call("GET", f"{DIR}/users/{key}")
        assert g.status_code == 200, key
        assert g.json()["id"] == u["id"]
    assert emu.call("GET", f"{DIR}/users/a@example.com").json()["aliases"] == ["al@example.com"]
    gerr(emu.call("GET", f"{DIR}/users/nobody@example.com"), 404, "notFound",
         "Resource Not Found: userKey")


BAD = [
    ({"name": {"givenName": "", "familyName": "X"}}, 400, "invalid", "Invalid Given/Family Name: GivenName"),
    ({"name": {"givenName": "A", "familyName": "x" * 61}}, 400, "invalid", "Invalid Given/Family Name: FamilyName"),
    ({"name": {"givenName": "A<b", "familyName": "X"}}, 400, "invalid", "Invalid Given/Family Name: GivenName"),
    ({"name": {"givenName": "A", "familyName": "X=Y"}}, 400, "invalid", "Invalid Given/Family Name: FamilyName"),
    ({"name": {"givenName": "A"}}, 400, "invalid", "Invalid Given/Family Name: FamilyName"),
    ({"name": {"givenName": "A", "familyname": "X"}}, 400, "required", "Required parameter: [resource.name.familyname]"),
    ({"password": "short"}, 400, "invalid", "Invalid Password"),
    ({"password": "x" * 101}, 400, "invalid", "Invalid Password"),
    ({"password": "zz", "hashFunction": "MD5"}, 400, "invalid", "Invalid Password"),
    ({"password": "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd", "hashFunction": "SHA-1"}, 400, "invalid", "Invalid Password"),
    ({"password": "$6$rounds=20000$salt$abc", "hashFunction": "crypt"}, 400, "invalid", "Invalid Password"),
    ({"primaryEmail": "bad..dots@example.com"}, 400, "invalid", "Invalid Input: primary_user_email"),
    ({"primaryEmail": "a+b@example.com"}, 400, "invalid", "Invalid Input: primary_user_email"),
    ({"primaryEmail": "x@not-ours.com"}, 403, "forbidden", "Not Authorized to access this resource/api"),
    ({"orgUnitPath": "/Nope"}, 400, "invalid", "Invalid Ou Id"),
    ({"suspended": "yes"}, 400, "invalid", None),
    ({"bogusField": 1}, 400, "invalid", 'Invalid JSON payload received. Unknown name "bogusField" at \'resource\': Cannot find field.'),
]


@pytest.mark.parametrize("patch,status,reason,msg", BAD)
def test_insert_validation(emu, patch, status, reason, msg):
    body = {"primaryEmail": "v@example.com", "name": {"givenName": "V", "familyName": "W"},
            "password": "correct-horse-9"}
    body.update(patch)
    gerr(emu.call("POST", f"{DIR}/users", body), status, reason, msg)


@pytest.mark.parametrize("pw,fn", [("5f4dcc3b5aa765d61d8327deb882cf99", "MD5"),
                                   ("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "SHA-1"),
                                   ("$6$rounds=10000$saltsalt$Yb0sm3Dq", "crypt"),
                                   ("$1$abc$xyz", "crypt"), ("x" * 100, None)])
def test_insert_password_forms(emu, pw, fn):
    body = {"primaryEmail": "p@example.com", "name": {"givenName": "P", "familyName": "Q"}, "password": pw}
    if fn:
        body["hashFunction"] = fn
    assert emu.call("POST", f"{DIR}/users", body).status_code == 200


def test_invalid_json(emu):
    e = gerr(emu.call("POST", f"{DIR}/users", raw="{not json"), 400, "parseError")
    assert e["status"] == "INVALID_ARGUMENT"


def test_shared_namespace(emu):
    emu.new_user("u1@example.com")
    emu.call("POST", f"{DIR}/users/u1@example.com/aliases", {"alias": "ua@example.com"})
    emu.new_group("g1@example.com")
    emu.call("POST", f"{DIR}/groups/g1@example.com/aliases", {"alias": "ga@example.com"})
    for taken in ("u1@example.com", "UA@example.com", "g1@example.com", "ga@example.com"):
        body = {"primaryEmail": taken, "name": {"givenName": "A", "familyName": "B"}, "password": "12345678"}
        gerr(emu.call("POST", f"{DIR}/users", body), 409, "duplicate", "Entity already exists.")
        gerr(emu.call("POST", f"{DIR}/groups", {"email": taken}), 409, "duplicate", "Entity already exists.")
        gerr(emu.call("POST", f"{DIR}/users/u1@example.com/aliases", {"alias": taken}), 409, "duplicate")


def test_update_semantics(emu):
    u = emu.new_user("s@example.com", phones=[{"value": "+1", "type": "work"}],
                     externalIds=[{"value": "e", "type": "organization"}], recoveryEmail="r@x.org")
    r = emu.call("PUT", f"{DIR}/users/s@example.com",
                 {"name": {"givenName": "New"}, "phones": [{"value": "+2", "type": "home"}],
                  "recoveryEmail": None, "isAdmin": True, "suspended": True})
    assert r.status_code == 200, r.text
    n = r.json()
    assert n["name"]["givenName"] == "New" and n["name"]["familyName"] == "Lee"   # absent kept
    assert n["phones"] == [{"value": "+2", "type": "home"}]                        # array replaced
    assert n["externalIds"] == u["externalIds"]                                    # absent kept
    assert "recoveryEmail" not in n                                                # null cleared
    assert n["isAdmin"] is False and n["suspended"] is True
    assert n["etag"] != u["etag"]
    r = emu.call("PUT", f"{DIR}/users/s@example.com", {"phones": []})
    assert "phones" not in r.json()                                                # [] clears
    # patch cannot clear repeated fields
    r = emu.call("PATCH", f"{DIR}/users/s@example.com", {"externalIds": []})
    assert r.json()["externalIds"] == u["externalIds"]
    e2 = emu.call("PATCH", f"{DIR}/users/s@example.com", {}).json()["etag"]
    assert e2 != r.json()["etag"]                                                  # etag per write


def test_rename_keeps_old_as_alias(emu):
    u = emu.new_user("old@example.com")
    r = emu.call("PUT", f"{DIR}/users/{u['id']}", {"primaryEmail": "new@example.com"})
    assert r.json()["primaryEmail"] == "new@example.com"
    assert "old@example.com" in r.json()["aliases"]
    assert emu.call("GET", f"{DIR}/users/old@example.com").json()["id"] == u["id"]
    gerr(emu.call("POST", f"{DIR}/groups", {"email": "old@example.com"}), 409, "duplicate")



def test_rename_onto_own_alias_makes_it_primary_only(emu):
    """The alias becomes the primary address and leaves aliases; the old primary becomes an alias."""
    u = emu.new_user("p@example.com")
    assert emu.call("POST", f"{DIR}/users/{u['id']}/aliases", {"alias": "p.alias@example.com"}).status_code == 200
    r = emu.call("PUT", f"{DIR}/users/{u['id']}", {"primaryEmail": "P.Alias@example.com"})
    assert r.status_code == 200, r.text
    assert r.json()["primaryEmail"] == "p.alias@example.com"
    assert r.json()["aliases"] == ["p@example.com"]
    assert emu.call("GET", f"{DIR}/users/p.alias@example.com").json()["id"] == u["id"]

def test_delete_undelete_make_admin(emu):
    u = emu.new_user("d@example.com")
    r = emu.call("DELETE", f"{DIR}/users/d@example.com")
    assert r.status_code == 204 and r.content == b""
    gerr(emu.call("GET", f"{DIR}/users/d@example.com"), 404, "notFound")
    lst = emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", "showDeleted": "true"}).json()
    assert [x["primaryEmail"] for x in lst["users"]] == ["d@example.com"]
    assert "deletionTime" in lst["users"][0]
    gerr(emu.call("POST", f"{DIR}/users/d@example.com/undelete", {}), 404, "notFound")
    r = emu.call("POST", f"{DIR}/users/{u['id']}/undelete", {"orgUnitPath": "/"})
    assert r.status_code == 204 and r.content == b""
    assert emu.call("GET", f"{DIR}/users/d@example.com").status_code == 200
    r = emu.call("POST", f"{DIR}/users/d@example.com/makeAdmin", {"status": True})
    assert r.status_code == 204
    assert emu.call("GET", f"{DIR}/users/d@example.com").json()["isAdmin"] is True
    gerr(emu.call("POST", f"{DIR}/users/d@example.com/makeAdmin", {}), 400, "required")


def test_aliases_list_delete(emu):
    emu.new_user("x@example.com")
    assert "aliases" not in emu.call("GET", f"{DIR}/users/x@example.com/aliases").json()
    emu.call("POST", f"{DIR}/users/x@example.com/aliases", {"alias": "x2@example.com"})
    lst = emu.call("GET", f"{DIR}/users/x@example.com/aliases").json()
    assert lst["kind"] == "admin#directory#aliases"
    assert [a["alias"] for a in lst["aliases"]] == ["x2@example.com"]
    assert emu.call("DELETE", f"{DIR}/users/x@example.com/aliases/x2@example.com").status_code == 204
    gerr(emu.call("DELETE", f"{DIR}/users/x@example.com/aliases/x2@example.com"), 404, "notFound")
    gerr(emu.call("POST", f"{DIR}/users/x@example.com/aliases", {"alias": "a@else.org"}), 403, "forbidden")


def test_list_requires_customer_or_domain(emu):
    gerr(emu.call("GET", f"{DIR}/users"), 400, "badRequest", "Bad Request")
    gerr(emu.call("GET", f"{DIR}/users", params={"customer": "example.com"}), 400, "badRequest")
    gerr(emu.call("GET", f"{DIR}/users", params={"domain": "nope.org"}), 404, "notFound")
    r = emu.call("GET", f"{DIR}/users", params={"domain": "example.com"})
    assert r.status_code == 200 and r.json()["kind"] == "admin#directory#users"


@pytest.mark.parametrize("mx", ["0", "501", "abc"])
def test_list_max_results_range(emu, mx):
    e = gerr(emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", "maxResults": mx}),
             400, "invalidParameter")
    assert e["message"] == f"Invalid value '{mx}'. Values must be within the range: [1, 500]"


def test_list_paging_all(emu):
    emu.ctl("POST", "seed", {"users": 1234})
    seen, tok, pages = [], None, 0
    while True:
        p = {"customer": "my_customer", "maxResults": 500, "fields": "nextPageToken,users(primaryEmail)"}
        if tok:
            p["pageToken"] = tok
        j = emu.call("GET", f"{DIR}/users", params=p).json()
        pages += 1
        assert set(j) <= {"users", "nextPageToken"}
        assert all(set(u) == {"primaryEmail"} for u in j["users"])
        seen += [u["primaryEmail"] for u in j["users"]]
        tok = j.get("nextPageToken")
        if not tok:
            break
    assert pages == 3 and len(seen) == 1235 and seen == sorted(seen) and len(set(seen)) == 1235
    # default page size 100; tokens are bound to the query
    j = emu.call("GET", f"{DIR}/users", params={"customer": "my_customer"}).json()
    assert len(j["users"]) == 100 and j["nextPageToken"]
    gerr(emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", "query": "isAdmin=true",
                                                   "pageToken": j["nextPageToken"]}), 400, "invalid")
    gerr(emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", "pageToken": "garbage"}),
         400, "invalid")


def test_list_order_desc_and_given(emu):
    for g, f in [("Cy", "Alpha"), ("Ab", "Zed"), ("Bo", "Mid")]:
        emu.new_user(f"{g.lower()}@example.com", g, f)
    p = {"customer": "my_customer", "orderBy": "givenName", "sortOrder": "DESCENDING", "maxResults": 2,
         "fields": "users/name/givenName,nextPageToken"}
    j = emu.call("GET", f"{DIR}/users", params=p).json()
    names = [u["name"]["givenName"] for u in j["users"]]
    j = emu.call("GET", f"{DIR}/users", params={**p, "pageToken": j["nextPageToken"]}).json()
    names += [u["name"]["givenName"] for u in j["users"]]
    assert names == ["Cy", "Bo", "Admin", "Ab"] and "nextPageToken" not in j


def test_list_queries(emu):
    emu.ctl("POST", "orgunits", {"orgUnitPath": "/Sales/EMEA"})
    emu.ctl("POST", "orgunits", {"orgUnitPath": "/Sales"})
    emu.new_user("jane.smith@example.com", "Jane", "Smith", orgUnitPath="/Sales/EMEA",
                 externalIds=[{"value": "E-7", "type": "organization"}])
    emu.new_user("john.smithers@example.com", "John", "Smithers", suspended=True)
    emu.call("POST", f"{DIR}/users/jane.smith@example.com/aliases", {"alias": "js@example.com"})

    def q(query):
        r = emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", "query": query})
        assert r.status_code == 200, r.text
        return sorted(u["primaryEmail"] for u in r.json().get("users", []))
    assert q("email=js@example.com") == ["jane.smith@example.com"]
    assert q("email:john*") == ["john.smithers@example.com"]
    assert q("givenName=Jane") == ["jane.smith@example.com"]
    assert q("familyName:Smith*") == ["jane.smith@example.com", "john.smithers@example.com"]
    assert q("name:'Jane Smith'") == ["jane.smith@example.com"]
    assert q("isSuspended=true") == ["john.smithers@example.com"]
    assert q("isAdmin=true") == ["admin@example.com"]
    assert q("orgUnitPath=/Sales") == ["jane.smith@example.com"]
    assert q("externalId=E-7") == ["jane.smith@example.com"]
    assert q("givenName:J* isSuspended=false") == ["jane.smith@example.com"]
    assert q("nomatch") == []
    gerr(emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", "query": "bogus=1"}),
         400, "invalid", "Invalid query")


def test_fields_and_projection(emu):
    emu.new_user("f@example.com", customSchemas={"S1": {"a": 1}, "S2": {"b": "x"}})
    j = emu.call("GET", f"{DIR}/users/f@example.com", params={"fields": "id,name(givenName)"}).json()
    assert set(j) == {"id", "name"} and j["name"] == {"givenName": "Ann"}
    assert "customSchemas" not in emu.call("GET", f"{DIR}/users/f@example.com").json()
    j = emu.call("GET", f"{DIR}/users/f@example.com", params={"projection": "full"}).json()
    assert j["customSchemas"] == {"S1": {"a": 1}, "S2": {"b": "x"}}
    j = emu.call("GET", f"{DIR}/users/f@example.com",
                 params={"projection": "custom", "customFieldMask": "S2"}).json()
    assert j["customSchemas"] == {"S2": {"b": "x"}}
    gerr(emu.call("GET", f"{DIR}/users/f@example.com", params={"fields": "id("}), 400, "invalidParameter")


def test_empty_list_omits_array(emu):
    j = emu.call("GET", f"{DIR}/users", params={"customer": "my_customer", "query": "email=none@example.com"}).json()
    assert set(j) == {"kind", "etag"}


def test_post_create_412_window(emu):
    # off (the default): a write right after the insert succeeds
    emu.new_user("now@example.com")
    assert emu.call("PUT", f"{DIR}/users/now@example.com", {"suspended": True}).status_code == 200
    emu.ctl("PUT", "config", {"create412Ms": 1500})
    emu.new_user("w@example.com")
    gerr(emu.call("PUT", f"{DIR}/users/w@example.com", {"suspended": True}), 412, "conditionNotMet",
         "User creation is not complete.")
    gerr(emu.call("DELETE", f"{DIR}/users/w@example.com"), 412, "conditionNotMet")
    assert emu.call("GET", f"{DIR}/users/w@example.com").status_code == 200
    import time
    time.sleep(1.6)
    assert emu.call("PUT", f"{DIR}/users/w@example.com", {"suspended": True}).status_code == 200
