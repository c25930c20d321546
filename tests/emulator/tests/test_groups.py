"""groups, group aliases, members, domains, customers, Groups Settings."""
from conftest import DIR, gerr


def test_group_crud(emu):
    g = emu.new_group("Team@example.com", name="Team", description="d")
    assert g["kind"] == "admin#directory#group" and g["email"] == "team@example.com"
    assert g["directMembersCount"] == "0" and g["adminCreated"] is True
    assert emu.call("GET", f"{DIR}/groups/{g['id']}").json()["email"] == "team@example.com"
    r = emu.call("PATCH", f"{DIR}/groups/team@example.com", {"description": "new"})
    assert r.json()["description"] == "new" and r.json()["name"] == "Team" and r.json()["etag"] != g["etag"]
    r = emu.call("PUT", f"{DIR}/groups/team@example.com", {"name": "T2"})
    assert r.json()["name"] == "T2" and r.json()["description"] == "new"
    gerr(emu.call("POST", f"{DIR}/groups", {"name": "x"}), 400, "required")
    gerr(emu.call("POST", f"{DIR}/groups", {"email": "x@else.org"}), 403, "forbidden")
    gerr(emu.call("POST", f"{DIR}/groups", {"email": "y@example.com", "foo": 1}), 400, "invalid")
    r = emu.call("DELETE", f"{DIR}/groups/team@example.com")
    assert r.status_code == 204 and r.content == b""
    gerr(emu.call("GET", f"{DIR}/groups/team@example.com"), 404, "notFound", "Resource Not Found: groupKey")


def test_group_list_paging_and_filters(emu):
    emu.ctl("POST", "seed", {"users": 50, "groups": 450, "membersPerGroup": 3})
    gerr(emu.call("GET", f"{DIR}/groups"), 400, "badRequest", "Bad Request")
    seen, tok = [], None
    while True:
        p = {"customer": "my_customer", "maxResults": 1000}       # capped at 200
        if tok:
            p["pageToken"] = tok
        j = emu.call("GET", f"{DIR}/groups", params=p).json()
        assert len(j["groups"]) <= 200
        seen += [g["email"] for g in j["groups"]]
        tok = j.get("nextPageToken")
        if not tok:
            break
    assert len(seen) == 450 and seen == sorted(seen)
    u = emu.call("GET", f"{DIR}/groups/group-00000@example.com/members").json()["members"][0]
    j = emu.call("GET", f"{DIR}/groups", params={"userKey": u["email"]}).json()
    assert "group-00000@example.com" in [g["email"] for g in j["groups"]]
    j = emu.call("GET", f"{DIR}/groups", params={"customer": "my_customer", "query": "email:group-0001*"}).json()
    assert len(j["groups"]) == 10


def test_members(emu):
    emu.new_user("m1@example.com")
    emu.new_user("m2@example.com")
    emu.new_group("g@example.com")
    emu.new_group("sub@example.com")
    r = emu.call("POST", f"{DIR}/groups/g@example.com/members", {"email": "M1@example.com", "role": "OWNER"})
    m = r.json()
    assert m["kind"] == "admin#directory#member" and m["role"] == "OWNER" and m["type"] == "USER"
    assert m["status"] == "ACTIVE" and m["email"] == "m1@example.com"
    gerr(emu.call("POST", f"{DIR}/groups/g@example.com/members", {"email": "m1@example.com"}),
         409, "duplicate", "Member already exists.")
    gerr(emu.call("POST", f"{DIR}/groups/g@example.com/members", {"role": "MEMBER"}), 400, "required",
         "Missing required field: memberKey")
    gerr(emu.call("POST", f"{DIR}/groups/g@example.com/members", {"email": "ghost@example.com"}), 404, "notFound")
    ext = emu.call("POST", f"{DIR}/groups/g@example.com/members", {"email": "Friend@Outside.org"}).json()
    assert ext["email"] == "friend@outside.org" and ext["type"] == "USER"
    assert emu.call("POST", f"{DIR}/groups/g@example.com/members", {"email": "sub@example.com"}).json()["type"] == "GROUP"
    emu.call("POST", f"{DIR}/groups/sub@example.com/members", {"email": "m2@example.com"})
    gerr(emu.call("POST", f"{DIR}/groups/sub@example.com/members", {"email": "g@example.com"}),
         400, "conditionNotMet", "Cyclic memberships not allowed")
    assert emu.call("GET", f"{DIR}/groups/g@example.com").json()["directMembersCount"] == "3"
    j = emu.call("GET", f"{DIR}/groups/g@example.com/members", params={"roles": "OWNER"}).json()
    assert [x["email"] for x in j["members"]] == ["m1@example.com"]
    j = emu.call("GET", f"{DIR}/groups/g@example.com/members", params={"includeDerivedMembership": "true"}).json()
    assert sorted(x["email"] for x in j["members"]) == ["friend@outside.org", "m1@example.com", "m2@example.com"]
    assert emu.call("GET", f"{DIR}/groups/g@example.com/hasMember/m2@example.com").json() == {"isMember": True}
    emu.new_user("m3@example.com")
    assert emu.call("GET", f"{DIR}/groups/g@example.com/hasMember/m3@example.com").json() == {"isMember": False}
    r = emu.call("PATCH", f"{DIR}/groups/g@example.com/members/m1@example.com", {"role": "MANAGER"})
    assert r.json()["role"] == "MANAGER"
    r = emu.call("PUT", f"{DIR}/groups/g@example.com/members/m1@example.com", {"delivery_settings": "DIGEST"})
    assert r.json()["delivery_settings"] == "DIGEST" and r.json()["role"] == "MANAGER"
    gerr(emu.call("PUT", f"{DIR}/groups/g@example.com/members/m1@example.com", {"role": "BOSS"}), 400, "invalid")
    assert emu.call("GET", f"{DIR}/groups/g@example.com/members/{m['id']}").json()["email"] == "m1@example.com"
    assert emu.call("DELETE", f"{DIR}/groups/g@example.com/members/m1@example.com").status_code == 204
    gerr(emu.call("GET", f"{DIR}/groups/g@example.com/members/m1@example.com"), 404, "notFound",
         "Resource Not Found: memberKey")
    # deleting a user removes its memberships
    emu.call("DELETE", f"{DIR}/users/m2@example.com")
    assert "members" not in emu.call("GET", f"{DIR}/groups/sub@example.com/members").json()


def test_members_paging(emu):
    emu.ctl("POST", "seed", {"users": 450, "groups": 1, "membersPerGroup": 450})
    seen, tok = [], None
    while True:
        p = {"maxResults": 200}
        if tok:
            p["pageToken"] = tok
        j = emu.call("GET", f"{DIR}/groups/group-00000@example.com/members", params=p).json()
        seen += [m["id"] for m in j["members"]]
        tok = j.get("nextPageToken")
        if not tok:
            break
    assert len(seen) == 450 and len(set(seen)) == 450


def test_domains_customers(emu):
    emu.ctl("POST", "domains", {"domainName": "second.org"})
    j = emu.call("GET", f"{DIR}/customer/my_customer/domains").json()
    assert j["kind"] == "admin#directory#domains"
    d = {x["domainName"]: x for x in j["domains"]}
    assert d["example.com"]["isPrimary"] is True and d["second.org"]["isPrimary"] is False
    assert isinstance(d["example.com"]["creationTime"], str) and d["example.com"]["creationTime"].isdigit()
    assert emu.call("GET", f"{DIR}/customer/my_customer/domains/second.org").json()["verified"] is True
    gerr(emu.call("GET", f"{DIR}/customer/my_customer/domains/none.org"), 404, "notFound")
    c = emu.call("GET", f"{DIR}/customers/my_customer").json()
    assert c["kind"] == "admin#directory#customer" and c["id"].startswith("C0") and len(c["id"]) == 9
    assert c["customerDomain"] == "example.com"
    assert emu.call("GET", f"{DIR}/customers/{c['id']}").status_code == 200
    # a user in the second domain is now allowed
    emu.new_user("z@second.org")


def test_groups_settings(emu):
    emu.new_group("gs@example.com", name="GS")
    gs = "/groups/v1/groups/gs@example.com"
    r = emu.call("GET", gs)
    assert r.headers["Content-Type"].startswith("application/atom+xml")
    j = emu.call("GET", gs, params={"alt": "json"}).json()
    assert j["kind"] == "groupsSettings#groups" and j["email"] == "gs@example.com"
    assert j["allowExternalMembers"] == "false" and isinstance(j["maxMessageBytes"], int)
    r = emu.call("PATCH", gs, {"allowExternalMembers": "true", "whoCanPostMessage": "ALL_MEMBERS_CAN_POST"},
                 params={"alt": "json"})
    assert r.json()["allowExternalMembers"] == "true"
    r = emu.call("PUT", gs, {"whoCanJoin": "INVITED_CAN_JOIN"}, params={"alt": "json"})
    assert r.json()["whoCanJoin"] == "INVITED_CAN_JOIN" and r.json()["allowExternalMembers"] == "true"
    gerr(emu.call("PATCH", gs, {"allowExternalMembers": "maybe"}, params={"alt": "json"}), 400, "invalid")
    gerr(emu.call("PATCH", gs, {"whoCanViewGroup": "ALL_MEMBERS_CAN_VIEW",
                                "whoCanViewMembership": "ALL_IN_DOMAIN_CAN_VIEW"}, params={"alt": "json"}),
         400, "invalidArgument",
         "Failed request validation in update settings: WHO_CAN_VIEW_MEMBERSHIP_CANNOT_BE_BROADER_THAN_WHO_CAN_SEE_GROUP")
    gerr(emu.call("GET", "/groups/v1/groups/none@example.com", params={"alt": "json"}), 404, "notFound")
    tok = emu.token(scopes=["admin.directory.group"])
    gerr(emu.call("GET", gs, token=tok, params={"alt": "json"}), 403, "insufficientPermissions")
