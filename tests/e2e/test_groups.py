"""Group management end to end: REST → PostgreSQL → Kafka → worker → gws-emulator (issue 13).

Each test gets its own database, api and worker and an integration authorized with a service
account (the export harness of test_export.py), with group management on unless it says
otherwise. Google's side is checked through the emulator's state; write calls are counted from
its request log (batch parts count one each).
"""
import json

import pytest

import gwsync_harness as h
from test_authorization import emu, sa_keys  # noqa: F401 (fixtures)
from test_export import Ctx, Export, google_call, gu, seed_google

GROUP_WRITE_ROUTES = ("directory.groups.insert", "directory.groups.update", "directory.groups.patch",
                      "directory.groups.delete", "directory.members.insert",
                      "directory.members.delete", "directory.members.update",
                      "directory.members.patch")


class Groups(Export):
    def dgroup(self, gid, email, name=None, description="", members=(), bind=True):
        body = {"name": name or gid.title(), "description": description}
        if email is not None:
            body["email"] = email
        r = self.api.request("PUT", f"/v1/groups/{gid}", self.key, json=body)
        assert r.status_code in (200, 201), r.text
        for uid in members:
            self.member(gid, uid)
        if bind:
            r = self.api.request("PUT", f"/v1/integrations/{self.iid}/groups/{gid}", self.key)
            assert r.status_code in (200, 201), r.text

    def member(self, gid, uid, add=True):
        if add:
            r = self.api.request("PUT", f"/v1/groups/{gid}/members/{uid}", self.key)
            assert r.status_code in (200, 201), r.text
        else:
            r = self.api.delete(f"/v1/groups/{gid}/members/{uid}", key=self.key)
            assert r.status_code == 204, r.text

    def google_groups(self):
        return {g["email"]: g for g in self.emu.ctl("GET", "state")["groups"]}

    def google_members(self, email):
        """{address or id: role} of the Google group's entries."""
        g = self.google_groups()[email]
        return {m.get("email") or m.get("id"): m.get("role", "MEMBER") for m in g.get("members", [])}

    def group_link(self, gid):
        rows = h.sql(self.db, "SELECT status, google_id, email, origin, last_error_reason, "
                              "wanted_members, actual_members FROM group_links WHERE group_id = %s", gid)
        if not rows:
            return None
        keys = ("status", "google_id", "email", "origin", "reason", "wanted", "actual")
        return dict(zip(keys, rows[0]))

    def group_writes_since(self, seq):
        return [r for r in self.emu.requests_since(seq) if r.get("route", "") in GROUP_WRITE_ROUTES]

    def routes(self, writes):
        out = {}
        for r in writes:
            out[r["route"]] = out.get(r["route"], 0) + 1
        return out


@pytest.fixture
def gx(db, emu, sa_keys):  # noqa: F811
    emu.ctl("POST", "reset", {})
    emu.ctl("POST", "service-accounts", sa_keys["a"])
    c = Ctx(db, emu, sa_keys)
    c.key = h.create_key(db, "acme", "editor")
    g = Groups(c)
    g.settings(group_management=True)
    g.authorize()
    yield g
    g.teardown()


def group_event(gx, type_):
    """The first event of type_ of the integration on gwsync.events (waits up to 60 s)."""
    from test_events import consume_all, wait_until

    def find():
        for line in consume_all("gwsync.events", "%s\n").splitlines():
            ev = json.loads(line)
            if ev.get("integration") == gx.iid and ev["type"] == type_:
                return ev
        return None
    return wait_until(find, timeout=60, what=type_)


def three_users(gx, *more):
    """alice, bob, carol (and more) exist in Google and are taken over by the export."""
    names = ("alice", "bob", "carol") + more
    seed_google(gx.emu, [gu(f"{n}@example.com") for n in names])
    for n in names:
        gx.user(n, f"{n}@example.com", n.title(), "Example")
    gx.idle()
    for n in names:
        assert gx.link(n)["status"] == "synced", gx.link(n)


def test_create_with_three_members_then_noop(gx):
    three_users(gx)
    seq = gx.seq()
    gx.dgroup("team", "Team@Example.com", "Team", "The team", members=("alice", "bob", "carol"))
    gx.idle()
    groups = gx.google_groups()
    assert "team@example.com" in groups, groups
    g = groups["team@example.com"]
    assert g["name"] == "Team" and g["description"] == "The team"
    assert set(gx.google_members("team@example.com")) == {"alice@example.com", "bob@example.com",
                                                           "carol@example.com"}
    link = gx.group_link("team")
    assert link["status"] == "synced" and link["origin"] == "provisioned" and link["google_id"] == g["id"]
    assert link["wanted"] == 3 and link["actual"] == 3
    got = gx.api.get(f"/v1/integrations/{gx.iid}/groups/team", key=gx.key).json()
    h.assert_schema(got, "BoundGroup")
    assert got["bound"] and got["link"]["google_id"] == g["id"] and got["link"]["wanted_members"] == 3
    assert got["link"]["origin"] == "provisioned" and got["link"]["last_error"] is None
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.groups.insert": 1,
                                                      "directory.members.insert": 3}
    # a second run with no change writes nothing
    seq = gx.seq()
    job = gx.job("sync_groups")
    assert job["status"] == "succeeded", job
    assert gx.group_writes_since(seq) == []
    items = gx.items(job["id"])
    assert items["team"]["outcome"] == "unchanged", items
    # a full sync (users, then groups) writes nothing either
    job = gx.job("full_sync")
    assert job["status"] == "succeeded", job
    assert gx.group_writes_since(seq) == []


def test_adopt_existing_group_and_email_owned_by_user(gx):
    three_users(gx)
    gx.emu.ctl("PUT", "state", {"users": [gu(f"{n}@example.com") for n in ("alice", "bob", "carol")]
                                + [gu("sales@example.com")],
                                "groups": [{"email": "crew@example.com", "name": "Old crew",
                                            "members": [{"email": "alice@example.com", "role": "MEMBER",
                                                         "type": "USER"}]}]})
    gx.job("export_users")  # the reset state has new ids: link again
    gx.idle()
    before = gx.google_groups()["crew@example.com"]
    seq = gx.seq()
    gx.dgroup("crew", "crew@example.com", "Crew", members=("alice", "bob"))
    gx.dgroup("sales", "sales@example.com", "Sales", members=("carol",))
    gx.idle()
    after = gx.google_groups()["crew@example.com"]
    assert after["id"] == before["id"] and after["name"] == "Crew"
    assert set(gx.google_members("crew@example.com")) == {"alice@example.com", "bob@example.com"}
    link = gx.group_link("crew")
    assert link["status"] == "synced" and link["origin"] == "linked" and link["google_id"] == before["id"]
    conflict = gx.group_link("sales")
    assert conflict["status"] == "conflict" and conflict["reason"] == "email_owned_by_user", conflict
    assert "sales@example.com" not in gx.google_groups()
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.groups.update": 1,
                                                      "directory.members.insert": 1}


def test_adopt_by_alias_renames_at_once_then_writes_nothing(gx):
    three_users(gx)
    gx.emu.ctl("PUT", "state", {"users": [gu(f"{n}@example.com") for n in ("alice", "bob", "carol")],
                                "groups": [{"email": "viaalias-primary@example.com", "name": "Va",
                                            "aliases": ["va@example.com"],
                                            "members": [{"email": "alice@example.com", "role": "MEMBER",
                                                         "type": "USER"}]}]})
    gx.job("export_users")
    gx.idle()
    gid = gx.google_groups()["viaalias-primary@example.com"]["id"]
    gx.dgroup("va", "va@example.com", "Va", members=("alice",))
    gx.idle()
    g = gx.google_groups()
    assert g["va@example.com"]["id"] == gid and "viaalias-primary@example.com" not in g
    seq = gx.seq()
    gx.job("sync_groups")
    assert gx.group_writes_since(seq) == []


def test_rest_membership_add_and_remove_one(gx):
    three_users(gx, "dave")
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob", "carol"))
    gx.idle()
    seq = gx.seq()
    gx.member("team", "dave")
    gx.idle()
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.members.insert": 1}
    assert "dave@example.com" in gx.google_members("team@example.com")
    seq = gx.seq()
    gx.member("team", "bob", add=False)
    gx.idle()
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.members.delete": 1}
    assert set(gx.google_members("team@example.com")) == {"alice@example.com", "carol@example.com",
                                                           "dave@example.com"}


def test_group_management_off_writes_nothing(gx):
    three_users(gx)
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob"))
    gx.idle()
    assert gx.group_link("team")["status"] == "synced"
    gx.settings(group_management=False)
    gx.idle()
    seq = gx.seq()
    gx.member("team", "carol")
    gx.dgroup("other", "other@example.com", "Other", members=("alice",))
    job = gx.job("sync_groups")
    assert job["status"] == "succeeded", job
    job = gx.job("full_sync")
    assert job["status"] == "succeeded", job
    gx.idle()
    assert gx.group_writes_since(seq) == []
    assert "other@example.com" not in gx.google_groups()
    assert gx.group_link("team")["status"] == "synced"  # existing links stay
    # turning it on again reconciles every bound group at once
    gx.settings(group_management=True)
    gx.idle()
    assert "other@example.com" in gx.google_groups()
    assert "carol@example.com" in gx.google_members("team@example.com")


def test_unbound_group_left_in_google_unmanaged(gx):
    three_users(gx)
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob"))
    gx.idle()
    seq = gx.seq()
    r = gx.api.delete(f"/v1/integrations/{gx.iid}/groups/team", key=gx.key)
    assert r.status_code == 204, r.text
    gx.idle()
    job = gx.job("sync_groups")
    assert job["status"] == "succeeded", job
    assert gx.group_link("team")["status"] == "unmanaged"
    assert "team@example.com" in gx.google_groups()
    assert gx.group_writes_since(seq) == []
    # visible in the API: the group itself, and the list with ?include=unmanaged only
    base = f"/v1/integrations/{gx.iid}/groups"
    got = gx.api.get(f"{base}/team", key=gx.key)
    assert got.status_code == 200, got.text
    h.assert_schema(got.json(), "BoundGroup")
    assert got.json()["bound"] is False and got.json()["link"]["status"] == "unmanaged"
    assert got.json()["link"]["last_error"]["reason"] == "group_unbound"
    assert gx.api.get(base, key=gx.key).json()["items"] == []
    listed = gx.api.get(f"{base}?include=unmanaged", key=gx.key).json()["items"]
    assert [g["group_id"] for g in listed] == ["team"] and listed[0]["link"]["status"] == "unmanaged"
    h.assert_problem(gx.api.get(f"{base}?include=everything", key=gx.key), 400)
    h.assert_problem(gx.api.get(f"{base}/nogroup", key=gx.key), 404)


def test_external_and_owner_in_additive_then_authoritative(gx):
    three_users(gx)
    gx.emu.ctl("PUT", "state", {"users": [gu(f"{n}@example.com") for n in ("alice", "bob", "carol")]
                                + [gu("boss@example.com"), gu("manual@example.com")],
                                "groups": [{"email": "team@example.com", "name": "Team", "members": [
                                    {"email": "boss@example.com", "role": "OWNER", "type": "USER"},
                                    {"email": "guest@partner.org", "role": "MEMBER", "type": "EXTERNAL"},
                                    {"email": "manual@example.com", "role": "MEMBER", "type": "USER"},
                                    {"type": "CUSTOMER", "role": "MEMBER"}]}]})
    gx.job("export_users")
    gx.idle()
    seq = gx.seq()
    gx.dgroup("team", "team@example.com", "Team", members=("alice",))
    gx.idle()
    members = gx.google_members("team@example.com")
    assert {"boss@example.com", "guest@partner.org", "manual@example.com",
            "alice@example.com"} <= set(members), members
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.members.insert": 1}
    seq = gx.seq()
    gx.settings(group_membership="authoritative")
    gx.idle()
    job = gx.job("sync_groups")
    assert job["status"] == "succeeded", job
    members = gx.google_members("team@example.com")
    assert "guest@partner.org" not in members and "manual@example.com" not in members
    assert members["boss@example.com"] == "OWNER" and "alice@example.com" in members
    assert len(members) == 3, members  # the CUSTOMER entry stays
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.members.delete": 2}


def test_member_404_right_after_create_is_retried(gx):
    three_users(gx)
    gx.emu.ctl("PUT", "config", {"newGroup404Ms": 2500})
    seq = gx.seq()
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob"))
    gx.idle()
    assert set(gx.google_members("team@example.com")) == {"alice@example.com", "bob@example.com"}
    writes = gx.group_writes_since(seq)
    assert sum(1 for w in writes if w["route"] == "directory.groups.insert") == 1
    inserts = [w for w in writes if w["route"] == "directory.members.insert"]
    assert any(w["status"] == 404 for w in inserts), inserts  # Google was not ready at first
    assert sum(1 for w in inserts if w["status"] < 300) == 2
    assert gx.group_link("team")["status"] == "synced"


def test_directory_events_reach_google(gx):
    from test_events import event, produce, tenant_id, wait_until
    three_users(gx, "dave")
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob"))
    gx.idle()
    tid = tenant_id(gx.db)
    seq = gx.seq()
    produce([(tid, event(tid, "group.member_added", {"id": "team", "user_id": "dave"})),
             (tid, event(tid, "group.member_removed", {"id": "team", "user_id": "bob"}))])
    wait_until(lambda: set(gx.google_members("team@example.com")) == {"alice@example.com",
                                                                      "dave@example.com"},
               timeout=60, what="membership in Google")
    gx.idle()
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.members.insert": 1,
                                                      "directory.members.delete": 1}
    ev = group_event(gx, "gws.group.members_changed")
    assert ev["subject"] == "team" and ev["data"]["group_id"] == "team"


def test_member_listed_under_alias_matches(gx):
    seed_google(gx.emu, [gu("alice@example.com", aliases=["ally@example.com"]), gu("bob@example.com")])
    gx.user("alice", "alice@example.com", "Alice", "Example")
    gx.user("bob", "bob@example.com", "Bob", "Example")
    gx.idle()
    gx.emu.ctl("PUT", "state", {"users": [gu("alice@example.com", aliases=["ally@example.com"]),
                                          gu("bob@example.com")],
                                "groups": [{"email": "team@example.com", "name": "Team", "members": [
                                    {"email": "ally@example.com", "role": "MEMBER", "type": "USER"}]}]})
    gx.job("export_users")
    gx.idle()
    assert "ally@example.com" in gx.google_members("team@example.com")
    seq = gx.seq()
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob"))
    gx.idle()
    # alice (listed under her alias) matches: no delete, no insert; bob gets exactly one insert
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.members.insert": 1}
    assert set(gx.google_members("team@example.com")) == {"ally@example.com", "bob@example.com"}


def test_customer_group_and_statusless_entries(gx):
    three_users(gx)
    gx.emu.ctl("PUT", "config", {"memberStatus": False})
    gx.emu.ctl("PUT", "state", {"users": [gu(f"{n}@example.com") for n in ("alice", "bob", "carol")],
                                "groups": [{"email": "nested@example.com", "name": "Nested"},
                                           {"email": "all@example.com", "name": "All", "members": [
                                               {"type": "CUSTOMER", "role": "MEMBER"},
                                               {"email": "nested@example.com", "role": "MEMBER",
                                                "type": "GROUP"},
                                               {"email": "alice@example.com", "role": "MEMBER",
                                                "type": "USER"}]}]})
    gx.job("export_users")
    gx.idle()
    seq = gx.seq()
    gx.dgroup("all", "all@example.com", "All", members=("alice", "bob"))
    gx.idle()
    job = gx.job("sync_groups")
    assert job["status"] == "succeeded", job
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.members.insert": 1}
    members = gx.google_members("all@example.com")
    assert "nested@example.com" in members and "bob@example.com" in members and len(members) == 4
    link = gx.group_link("all")
    assert link["status"] == "synced" and link["wanted"] == 2 and link["actual"] == 4


def test_email_change_renames_same_group(gx):
    three_users(gx)
    gx.dgroup("team", "team@example.com", "Team", members=("alice",))
    gx.idle()
    gid = gx.group_link("team")["google_id"]
    seq = gx.seq()
    gx.dgroup("team", "crew@example.com", "Crew", bind=False)
    gx.idle()
    groups = gx.google_groups()
    assert "crew@example.com" in groups and groups["crew@example.com"]["id"] == gid
    # Google keeps the old address as an alias of the same group
    old = google_call(gx.emu, "GET", "/admin/directory/v1/groups/team@example.com").json()
    assert old["id"] == gid and old["email"] == "crew@example.com"
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.groups.update": 1}
    assert gx.group_link("team")["email"] == "crew@example.com"
    # removing the email stops managing it; the Google group stays
    gx.dgroup("team", None, "Crew", bind=False)
    gx.idle()
    assert gx.group_link("team")["status"] == "unmanaged"
    assert "crew@example.com" in gx.google_groups()


def test_domain_and_name_rules_are_per_group(gx):
    three_users(gx)
    seq = gx.seq()
    gx.dgroup("far", "far@elsewhere.test", "Far", members=("alice",))
    gx.dgroup("long", "long@example.com", "L" * 74, members=("alice",))
    gx.dgroup("fine", "fine@example.com", "Fine", members=("alice",))
    gx.idle()
    job = gx.job("sync_groups")
    assert job["status"] == "partially_failed", job
    assert gx.group_link("far")["reason"] == "domain_not_configured"
    assert gx.group_link("far")["email"] == "far@elsewhere.test"
    assert gx.group_link("long")["status"] == "failed" and gx.group_link("long")["reason"] == "invalid_name"
    assert gx.group_link("fine")["status"] == "synced"
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.groups.insert": 1,
                                                      "directory.members.insert": 1}


def test_removals_past_the_guard_wait_for_approval(gx):
    three_users(gx, "dave")
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob", "carol", "dave"))
    gx.idle()
    gx.settings(deletion_guard={"max_count": 1})
    gx.idle()
    # two removals from one group in one direct change of the replica (no REST trigger)
    h.sql(gx.db, "DELETE FROM group_members WHERE group_id = 'team' AND user_id IN ('bob', 'carol')")
    seq = gx.seq()
    job = gx.job("sync_groups", group_ids=["team"])
    assert job["status"] == "awaiting_approval", job
    assert gx.group_writes_since(seq) == []
    # the job is parked, not lost: with one worker, nobody else holds it
    gx.worker.wait_event("job_awaits_approval")
    assert not [r for r in gx.worker.records if r.get("event") == "job_lease_lost"], gx.worker.all_output()
    r = gx.api.post(f"/v1/jobs/{job['id']}/approve", key=gx.key)
    assert r.status_code in (200, 202), r.text
    job = gx.wait(job["id"], until=("queued", "running", "awaiting_approval"))
    assert job["status"] == "succeeded", job
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.members.delete": 2}
    assert set(gx.google_members("team@example.com")) == {"alice@example.com", "dave@example.com"}


def test_delete_in_google_only_on_request(gx):
    three_users(gx)
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob"))
    gx.idle()
    url = f"/v1/integrations/{gx.iid}/groups/team/delete-in-google"
    h.assert_problem(gx.api.post(url, key=gx.key), 409)  # still managed
    h.assert_problem(gx.api.post(f"/v1/integrations/{gx.iid}/groups/nogroup/delete-in-google",
                                 key=gx.key), 404)
    assert gx.api.delete(f"/v1/integrations/{gx.iid}/groups/team", key=gx.key).status_code == 204
    gx.idle()
    assert gx.group_link("team")["status"] == "unmanaged"
    assert "team@example.com" in gx.google_groups()
    seq = gx.seq()
    r = gx.api.post(url, key=gx.key)
    assert r.status_code == 202, r.text
    assert r.json()["link"]["status"] == "delete_requested"
    gx.idle()
    assert "team@example.com" not in gx.google_groups()
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.groups.delete": 1}
    assert gx.group_link("team")["status"] == "deleted"
    actions = [(e["resource_type"], e["action"]) for e in
               gx.api.get("/v1/audit-events?limit=20", key=gx.key).json()["items"]]
    assert ("group_link", "delete_in_google") in actions, actions
    # a later run deletes nothing more
    seq = gx.seq()
    job = gx.job("sync_groups")
    assert job["status"] == "succeeded", job
    assert gx.group_writes_since(seq) == []


def test_members_linked_by_the_export_reach_the_group(gx):
    """Binding only the group: the export links its members, which queues sync_groups again."""
    seed_google(gx.emu, [gu(f"{n}@example.com") for n in ("alice", "bob", "carol")])
    for n in ("alice", "bob", "carol"):
        r = gx.api.request("PUT", f"/v1/users/{n}", gx.key,
                           json={"email": f"{n}@example.com", "first_name": n.title(),
                                 "last_name": "Example", "state": "active"})
        assert r.status_code in (200, 201), r.text
    seq = gx.seq()
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob", "carol"))
    gx.idle()
    assert all(gx.link(n)["status"] == "synced" for n in ("alice", "bob", "carol"))
    assert set(gx.google_members("team@example.com")) == {"alice@example.com", "bob@example.com",
                                                           "carol@example.com"}
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.groups.insert": 1,
                                                      "directory.members.insert": 3}


def test_dry_run_stores_the_plan_and_writes_nothing(gx):
    three_users(gx)
    # written without an API key: nothing is queued for it
    h.sql(gx.db, "INSERT INTO directory_groups (tenant_id, id, name, email) SELECT tenant_id, 'team', "
                 "'Team', 'team@example.com' FROM integrations WHERE id = %s", gx.iid)
    h.sql(gx.db, "INSERT INTO group_members (tenant_id, group_id, user_id) SELECT tenant_id, 'team', u "
                 "FROM integrations, unnest(ARRAY['alice', 'bob']) u WHERE id = %s", gx.iid)
    h.sql(gx.db, "INSERT INTO group_bindings (tenant_id, integration_id, group_id) SELECT tenant_id, id, "
                 "'team' FROM integrations WHERE id = %s", gx.iid)
    seq = gx.seq()
    job = gx.job("sync_groups", dry_run=True)
    assert job["status"] == "succeeded", job
    assert gx.group_writes_since(seq) == []
    assert job["plan_summary"]["create_group"] == 1 and job["plan_summary"]["add_member"] == 2
    plan = gx.api.get(f"/v1/jobs/{job['id']}/plan", key=gx.key).json()["items"]
    ops = [(p["op"], p["user_id"]) for p in plan]
    assert ops == [("create_group", "team"), ("add_member", "alice"), ("add_member", "bob")], ops


def google_reads_since(gx, seq):
    out = {}
    for r in gx.emu.requests_since(seq):
        route = r.get("route", "")
        if route.startswith("directory.groups") or route.startswith("directory.members") or \
                route.startswith("directory.users"):
            out[route] = out.get(route, 0) + 1
    return out


def test_targeted_run_reads_only_its_groups(gx):
    """A targeted run (parameters.group_ids) reads its group by id, not the whole listing: calls =
    floor (one read of the group + its member listing + the change), while other groups exist."""
    three_users(gx, "dave")
    gx.emu.ctl("POST", "seed", {"users": 0, "groups": 250, "membersPerGroup": 0})  # 2 listing pages
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob"))
    gx.dgroup("crew", "crew@example.com", "Crew", members=("carol",))
    gx.idle()
    assert gx.group_link("team")["status"] == "synced"
    # one member added without a trigger, then a run targeting that group only
    h.sql(gx.db, "INSERT INTO group_members (tenant_id, group_id, user_id) SELECT tenant_id, 'team', 'dave' "
                 "FROM integrations WHERE id = %s", gx.iid)
    seq = gx.seq()
    job = gx.job("sync_groups", group_ids=["team"])
    assert job["status"] == "succeeded", job
    assert google_reads_since(gx, seq) == {"directory.groups.get": 1, "directory.members.list": 1,
                                           "directory.members.insert": 1}
    assert "dave@example.com" in gx.google_members("team@example.com")
    # an unlinked group is looked up by its address: adopted as in a full run
    gx.emu.ctl("POST", "faults", {"route": "directory.groups.list", "status": 500})  # never listed
    google_call(gx.emu, "POST", "/admin/directory/v1/groups", {"email": "ops@example.com", "name": "Ops"})
    gx.dgroup("ops", "ops@example.com", "Ops", members=("alice",))
    gx.idle()
    gx.emu.ctl("DELETE", "faults")
    link = gx.group_link("ops")
    assert link["status"] == "synced" and link["origin"] == "linked", link
    assert "alice@example.com" in gx.google_members("ops@example.com")
    # a full run still lists every group
    seq = gx.seq()
    job = gx.job("sync_groups")
    assert job["status"] == "succeeded", job
    reads = google_reads_since(gx, seq)
    assert reads.get("directory.groups.list") == 2 and "directory.groups.get" not in reads, reads


def test_deactivation_releases_group_links_and_keeps_google(gx):
    """Deactivation unbinds the groups without touching Google: their links become unmanaged at
    once (gws.group.unmanaged), and after reactivation a rebound group is the same Google group."""
    three_users(gx)
    gx.dgroup("team", "team@example.com", "Team", members=("alice", "bob"))
    gx.idle()
    gid = gx.group_link("team")["google_id"]
    seq = gx.seq()
    r = gx.api.post(f"/v1/integrations/{gx.iid}/deactivate", key=gx.key)
    assert r.status_code == 200, r.text
    link = gx.group_link("team")
    assert link["status"] == "unmanaged" and link["reason"] == "integration_deactivated", link
    assert link["google_id"] == gid
    got = gx.api.get(f"/v1/integrations/{gx.iid}/groups/team", key=gx.key).json()
    assert got["bound"] is False and got["link"]["status"] == "unmanaged", got
    assert set(gx.google_members("team@example.com")) == {"alice@example.com", "bob@example.com"}
    ev = group_event(gx, "gws.group.unmanaged")
    assert ev["subject"] == "team" and ev["data"]["reason"] == "integration_deactivated", ev
    # reactivated and bound again: the same Google group, nothing written
    assert gx.api.post(f"/v1/integrations/{gx.iid}/reactivate", key=gx.key).status_code == 200
    gx.authorize()
    r = gx.api.request("PUT", f"/v1/integrations/{gx.iid}/groups/team", gx.key)
    assert r.status_code in (200, 201), r.text
    gx.idle()
    link = gx.group_link("team")
    assert link["status"] == "synced" and link["google_id"] == gid, link
    assert gx.group_writes_since(seq) == []
    assert len([g for g in gx.google_groups() if g == "team@example.com"]) == 1


def sql_groups(gx, n, members, prefix="k"):
    """n groups with these members, bound, written by SQL (no trigger queues work for them)."""
    h.sql(gx.db, "INSERT INTO directory_groups (tenant_id, id, name, email) SELECT tenant_id, %s || lpad(g::text, 3, "
                 "'0'), 'Kill ' || g, %s || lpad(g::text, 3, '0') || '@example.com' FROM integrations, "
                 "generate_series(0, %s - 1) g WHERE id = %s", prefix, prefix + "grp", n, gx.iid)
    h.sql(gx.db, "INSERT INTO group_members (tenant_id, group_id, user_id) SELECT d.tenant_id, d.id, u FROM "
                 "directory_groups d, unnest(%s::text[]) u WHERE d.id LIKE %s", list(members), prefix + "%")
    h.sql(gx.db, "INSERT INTO group_bindings (tenant_id, integration_id, group_id) SELECT tenant_id, %s, id "
                 "FROM directory_groups WHERE id LIKE %s", gx.iid, prefix + "%")


@pytest.mark.parametrize("route", ["directory.groups.insert", "directory.members.insert"])
def test_worker_killed_during_group_sync_counts_objects_once(gx, route):
    """SIGKILL while creating groups, or while adding their members: the job resumes on another
    worker, every group and member is written once, and the counts are the objects (groups created
    + members added), not attempts."""
    names = ("alice", "bob", "carol", "dave", "erin")
    three_users(gx, "dave", "erin")
    n = 16
    sql_groups(gx, n, names)
    job = gx.kill_worker_during("sync_groups", route, 250 if "groups" in route else 40, n // 3)
    assert job["status"] == "succeeded" and job["attempts"] == 2, job
    assert job["counts"] == {"created": n + n * len(names), "updated": 0, "unchanged": 0, "skipped": 0,
                             "failed": 0}, job
    groups = [g for g in gx.emu.ctl("GET", "state")["groups"] if g["email"].startswith("kgrp")]
    assert len(groups) == n and len({g["email"] for g in groups}) == n
    for g in groups:
        emails = [m["email"] for m in g["members"]]
        assert sorted(emails) == sorted(f"{u}@example.com" for u in names), g
    links = h.sql(gx.db, "SELECT status, origin, count(*) FROM group_links WHERE group_id LIKE 'k%%' GROUP BY 1, 2")
    assert links == [("synced", "provisioned", n)], links
    seq = gx.seq()
    job = gx.job("sync_groups")
    assert job["status"] == "succeeded" and gx.group_writes_since(seq) == [], job


# member changes go to Google in batches of at most this many (service/sync/apply_groups.c)
MEMBER_BATCH = 500


@pytest.mark.parametrize("route", ["directory.groups.insert", "directory.members.insert"])
def test_deactivation_during_a_group_sync_leaves_no_live_link_and_stops_it(gx, route):
    """Deactivate unbinds every group and makes every group link unmanaged; a sync_groups run
    across it, creating groups or adding their members, stops naming why, leaves no managed link
    behind (the groups it made keep their Google ids) and writes Google no more: at most the
    create, or the member batch, in flight when the deactivation committed."""
    if route == "directory.groups.insert":
        three_users(gx)
        members, n, latency, at = ("alice", "bob", "carol"), 40, 100, 5
    else:
        # 2 member batches: the deactivation lands inside the first
        gx.bulk_users("m", "mem", 25)
        assert gx.job()["status"] == "succeeded"
        members, n, latency, at = [f"m{i:04d}" for i in range(25)], 40, 4, 50
    gx.idle()
    sql_groups(gx, n, members)
    job, seq = gx.deactivate_during("sync_groups", route, latency, at)
    assert job["status"] == "failed" and job["error_reason"] == "integration_not_active", job
    assert h.sql(gx.db, "SELECT count(*) FROM group_bindings WHERE integration_id = %s", gx.iid) == [(0,)]
    links = h.sql(gx.db, "SELECT status, count(*) FROM group_links WHERE integration_id = %s GROUP BY 1",
                  gx.iid)
    assert [s for s, _ in links] == ["unmanaged"], links
    # after the deactivation only the Google write in flight ended (a create, or one member batch)
    after = gx.routes(gx.group_writes_since(seq))
    if route == "directory.groups.insert":
        assert sum(after.values()) <= 1 and set(after) <= {route}, after
    else:
        assert set(after) <= {route} and after.get(route, 0) <= MEMBER_BATCH, after
        # the run stopped: the second batch was never sent
        done = gx.emu.ctl("GET", "counters")["counters"].get(route, 0)
        assert done <= MEMBER_BATCH < n * len(members), done
    # what the run learned is kept: every Google group it made has its link's Google id
    made = {g["id"] for g in gx.emu.ctl("GET", "state")["groups"] if g["email"].startswith("kgrp")}
    kept = {g for (g,) in h.sql(gx.db, "SELECT google_id FROM group_links WHERE integration_id = %s "
                                       "AND google_id IS NOT NULL", gx.iid)}
    assert made <= kept, made - kept
    if route == "directory.groups.insert":
        assert at <= len(made) < n, len(made)
    else:
        assert len(made) == n, len(made)


def test_group_created_behind_ambiguous_503_is_provisioned(gx):
    """groups.insert applied, then answered 503: the retry's 409 is gwsync's own create (origin
    provisioned, counted created); and when the address is not found right after (index lag), the
    next run finds it by address and still records it as provisioned, never creating it twice."""
    three_users(gx)
    sql_groups(gx, 2, ("alice", "bob"), prefix="a")
    gx.emu.ctl("POST", "faults", {"route": "directory.groups.insert", "status": 503, "apply": True,
                                  "times": 1})
    job = gx.job("sync_groups", group_ids=["a000"])
    assert job["status"] == "succeeded", job
    assert job["counts"]["created"] == 3 and job["counts"]["updated"] == 0, job
    link = gx.group_link("a000")
    assert link["status"] == "synced" and link["origin"] == "provisioned", link
    assert set(gx.google_members("agrp000@example.com")) == {"alice@example.com", "bob@example.com"}
    # the same, and the lookup by address misses it at first: the run fails this group only
    gx.emu.ctl("DELETE", "faults")
    gx.emu.ctl("POST", "faults", {"route": "directory.groups.insert", "status": 503, "apply": True,
                                  "times": 1})
    gx.emu.ctl("POST", "faults", {"route": "directory.groups.get", "status": 404, "times": 1})
    job = gx.job("sync_groups")
    assert job["status"] in ("failed", "partially_failed"), job
    assert gx.group_link("a001")["status"] == "failed"
    gx.emu.ctl("DELETE", "faults")
    seq = gx.seq()
    job = gx.job("sync_groups")
    assert job["status"] == "succeeded", job
    assert gx.items(job["id"])["a001"]["outcome"] == "created", gx.items(job["id"])
    link = gx.group_link("a001")
    assert link["status"] == "synced" and link["origin"] == "provisioned", link
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.members.insert": 2}
    assert [g["email"] for g in gx.emu.ctl("GET", "state")["groups"]].count("agrp001@example.com") == 1


def test_full_sync_plan_of_many_groups_pages_to_its_end(gx):
    """A full_sync's group plan entries are numbered from 2^40: every next_cursor the plan hands
    out is taken back (it once refused any cursor past 9 digits), and matches openapi's pattern;
    the other sequence-numbered lists take such a cursor too."""
    import re
    n = 250
    sql_groups(gx, n, (), prefix="p")
    dry = gx.job("full_sync", dry_run=True)
    assert dry["status"] == "succeeded", dry
    pattern = h.openapi_spec()["components"]["parameters"]["cursorSeq"]["schema"]["pattern"]
    seen, cursor, pages = [], None, 0
    while True:
        q = f"/v1/jobs/{dry['id']}/plan?limit=100" + (f"&cursor={cursor}" if cursor else "")
        r = gx.api.get(q, key=gx.key)
        assert r.status_code == 200, (q, r.text)
        page = r.json()
        seen += [(p["op"], p["user_id"], p["reason"]) for p in page["items"]]
        pages += 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
        assert re.fullmatch(pattern, cursor), cursor
        assert int(cursor) > 2 ** 40, cursor
    assert pages == 3 and len(seen) == n, (pages, len(seen))
    # groups without members: each one an entry of the plan (skipped, no_members), all of them seen once
    assert sorted(seen) == [("skip", f"p{g:03d}", "no_members") for g in range(n)], seen[:5]
    for path in (f"/v1/integrations/{gx.iid}/jobs", f"/v1/jobs/{dry['id']}/items", "/v1/audit-events"):
        r = gx.api.get(f"{path}?cursor={2 ** 40 + 1}", key=gx.key)
        assert r.status_code == 200, (path, r.text)
    h.assert_problem(gx.api.get(f"/v1/jobs/{dry['id']}/plan?cursor={2 ** 63}", key=gx.key), 400)


def test_unknown_group_ids_are_reported(gx):
    """A targeted run names what it could not find: a skipped item per id, the others run."""
    three_users(gx)
    gx.dgroup("team", "team@example.com", "Team", members=("alice",))
    gx.dgroup("loose", "loose@example.com", "Loose", members=("bob",), bind=False)
    gx.idle()
    seq = gx.seq()
    h.sql(gx.db, "INSERT INTO group_members (tenant_id, group_id, user_id) SELECT tenant_id, 'team', 'bob' "
                 "FROM integrations WHERE id = %s", gx.iid)
    # an id named twice is planned once (as google_user_ids)
    job = gx.job("sync_groups", group_ids=["team", "nosuch", "loose", "team", "nosuch"])
    assert job["status"] == "succeeded", job
    items = gx.items(job["id"])
    assert (items["nosuch"]["outcome"], items["nosuch"]["error"]["reason"]) == ("skipped", "not_found"), items
    assert (items["loose"]["outcome"], items["loose"]["error"]["reason"]) == ("skipped", "not_bound"), items
    assert items["team"]["outcome"] == "updated", items
    assert job["counts"]["skipped"] == 2, job
    assert gx.routes(gx.group_writes_since(seq)) == {"directory.members.insert": 1}
    assert gx.group_link("nosuch") is None and gx.group_link("loose") is None


def test_full_sync_dry_run_keeps_both_plans_and_its_approval_applies_every_user(gx):
    """The group plan of a full_sync goes after the users' (it once replaced the first users' entries,
    and the approval then skipped them as not planned)."""
    three_users(gx)
    # written without an API key: nothing is queued for them
    h.sql(gx.db, "INSERT INTO directory_users (tenant_id, id, email, first_name, last_name, state, password_hash, "
                 "password_hash_function) SELECT tenant_id, u, u || '@example.com', 'New', u, 'active', "
                 "'2d6a3fb2c4d35e1dbcf8b4eddcd5e3da06f3a4a4', 'SHA-1' FROM integrations, "
                 "unnest(ARRAY['ann', 'ben', 'cat']) u WHERE id = %s", gx.iid)
    h.sql(gx.db, "INSERT INTO directory_groups (tenant_id, id, name, email) SELECT tenant_id, 'crew', "
                 "'Crew', 'crew@example.com' FROM integrations WHERE id = %s", gx.iid)
    h.sql(gx.db, "INSERT INTO group_members (tenant_id, group_id, user_id) SELECT tenant_id, 'crew', u "
                 "FROM integrations, unnest(ARRAY['alice', 'ann', 'ben', 'cat']) u WHERE id = %s", gx.iid)
    h.sql(gx.db, "INSERT INTO group_bindings (tenant_id, integration_id, group_id) SELECT tenant_id, id, "
                 "'crew' FROM integrations WHERE id = %s", gx.iid)
    dry = gx.job("full_sync", dry_run=True)
    assert dry["status"] == "succeeded", dry
    assert dry["plan_summary"]["ops"] == {"create": 3, "none": 3}, dry["plan_summary"]
    groups = dry["plan_summary"]["groups"]
    assert groups["create_group"] == 1 and groups["add_member"] == 1, groups  # alice is linked already
    plan = gx.api.get(f"/v1/jobs/{dry['id']}/plan?limit=100", key=gx.key).json()["items"]
    ops = [(p["op"], p["user_id"]) for p in plan if p["op"] != "none"]
    assert ops == [("create", "ann"), ("create", "ben"), ("create", "cat"), ("create_group", "crew"),
                   ("add_member", "alice")], ops
    r = gx.api.post(f"/v1/jobs/{dry['id']}/approve", key=gx.key)
    assert r.status_code == 202, r.text
    job = gx.wait(r.json()["id"])
    assert job["status"] == "succeeded", job
    items = gx.items(job["id"])
    assert all(items[u]["outcome"] == "created" for u in ("ann", "ben", "cat")), items
    gx.idle()
    assert set(gx.google_members("crew@example.com")) == {"alice@example.com", "ann@example.com",
                                                           "ben@example.com", "cat@example.com"}
