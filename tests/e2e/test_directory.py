"""The directory replica through the real binary: users, passwords, groups and members."""
import re
import warnings

import psycopg2
import pytest

import gwsync_harness as h

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # Debian's python3.11 still has it; it verifies SHA-512 crypt with libcrypt

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
GOOD_CRYPT = "$6$rounds=10000$saltsaltsaltsalt$" + "a" * 86


@pytest.fixture
def keys(db):
    """Editor and reader of tenant acme, editor of tenant globex."""
    return {
        "editor": h.create_key(db, "acme", "editor"),
        "reader": h.create_key(db, "acme", "reader"),
        "other": h.create_key(db, "globex", "editor"),
    }


def user(email="ada@example.com", first="Ada", last="Lovelace", **more):
    return {"email": email, "first_name": first, "last_name": last, **more}


def put(api, path, key, body, **headers):
    return api.request("PUT", path, key, json=body, headers=headers)


def patch(api, path, key, body, **headers):
    return api.request("PATCH", path, key, json=body, headers=headers)


def put_user(api, key, uid, body=None, **headers):
    r = put(api, f"/v1/users/{uid}", key, body if body is not None else user(), **headers)
    return r


def must_put_user(api, key, uid, body=None):
    r = put_user(api, key, uid, body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def errors_of(r):
    return h.assert_problem(r, 400, "validation")["errors"]


def assert_reference_error(r, detail):
    """A well-formed body naming a user that does not exist here (or the user itself): 422."""
    errs = h.assert_problem(r, 422, "invalid-reference")["errors"]
    assert errs == [{"pointer": "/manager_id", "detail": detail}], errs


def assert_error(r, pointer, detail=None):
    errs = errors_of(r)
    if detail is None:
        assert any(e["pointer"] == pointer for e in errs), errs
    else:
        assert {"pointer": pointer, "detail": detail} in errs, errs


def sql(db, statement, *args):
    return h.sql(db, statement, *args)


def dump_database(db):
    """Every row of every table in the public schema, as text."""
    conn = psycopg2.connect(h.database_url(db))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            tables = [t for (t,) in cur.fetchall()]
            out = []
            for t in tables:
                cur.execute(f'SELECT t::text FROM "{t}" t')
                out.extend(f"{t}: {row}" for (row,) in cur.fetchall())
            return "\n".join(sorted(out))
    finally:
        conn.close()


FULL = user(
    email="Grace.Hopper@Example.com", first="Grace", last="Hopper", state="active",
    alternate_email="grace+navy@other.example.org", cost_center="CC-1", department="Research",
    employee_type="Admiral", job_title="Rear Admiral", employee_id="E-1906", company="US Navy",
    location="Arlington",
    addresses=[{"type": "work", "street_address": "1 Navy Way\nSuite 2", "locality": "Arlington",
                "region": "VA", "postal_code": "22201", "country": "US",
                "formatted": "1 Navy Way, Arlington"},
               {"type": "home", "locality": "New York", "region": ""}],
    phones=[{"type": "work", "value": "+1 (703) 555-0100"}, {"type": "mobile", "value": "555.0101"}])


# ---- users: shapes, create vs replace, ETags ----

def test_user_put_creates_then_replaces(api, keys):
    ed = keys["editor"]
    r = put_user(api, ed, "u-1", user())
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/v1/users/u-1"
    assert r.headers["ETag"] == '"1"'
    u = h.assert_schema(r.json(), "User")
    assert u["id"] == "u-1" and u["email"] == "ada@example.com" and u["state"] == "staged"
    assert u["password_set"] is False and u["password_set_at"] is None
    assert u["addresses"] == [] and u["phones"] == [] and u["manager_id"] is None
    assert TIME.fullmatch(u["created_at"]) and TIME.fullmatch(u["updated_at"])

    got = api.get("/v1/users/u-1", key=ed)
    assert got.status_code == 200 and got.json() == u and got.headers["ETag"] == '"1"'

    # The same body again changes nothing, so the version (ETag) stays.
    r = put_user(api, ed, "u-1", user())
    assert r.status_code == 200 and r.headers["ETag"] == '"1"' and "Location" not in r.headers
    assert r.json() == u

    must_put_user(api, ed, "boss", user("boss@example.com", "Big", "Boss"))
    full = dict(FULL, manager_id="boss")
    r = put_user(api, ed, "u-1", full)
    assert r.status_code == 200 and r.headers["ETag"] == '"2"', r.text
    u2 = h.assert_schema(r.json(), "User")
    for k, v in full.items():
        if k == "addresses":
            # Empty strings are dropped from what is kept.
            assert u2[k] == [v[0], {"type": "home", "locality": "New York"}]
        else:
            assert u2[k] == v, k
    assert u2["created_at"] == u["created_at"]

    # PUT replaces: what the body leaves out becomes null (state: staged).
    r = put_user(api, ed, "u-1", user())
    assert r.status_code == 200 and r.headers["ETag"] == '"3"'
    u3 = r.json()
    assert u3["state"] == "staged" and u3["alternate_email"] is None and u3["addresses"] == []
    assert u3["manager_id"] is None and u3["job_title"] is None

    # An empty optional text is null.
    r = put_user(api, ed, "u-1", user(job_title="", department=None))
    assert r.json()["job_title"] is None and r.json()["department"] is None


def test_user_ids(api, keys):
    ed = keys["editor"]
    for uid in ("a", "A.b_c:d-9", "x" * 128):
        assert put_user(api, ed, uid, user(f"{len(uid)}{uid[:1]}@example.com")).status_code == 201
        assert api.get(f"/v1/users/{uid}", key=ed).status_code == 200
    for bad in ("x" * 129, "with%20space", "%C3%BC", "semi;colon", "star*"):
        assert_error(put_user(api, ed, bad, user("z@example.com")), "/path/user_id",
                     "must be 1 to 128 characters of A-Z a-z 0-9 . _ : -")
        h.assert_problem(api.get(f"/v1/users/{bad}", key=ed), 404, "not-found")
        h.assert_problem(api.delete(f"/v1/users/{bad}", key=ed), 404, "not-found")
        h.assert_problem(patch(api, f"/v1/users/{bad}", ed, {"state": "active"}), 404)
        h.assert_problem(api.post(f"/v1/users/{bad}/password", key=ed, json={"password": "x" * 10}), 404)
    h.assert_problem(api.get("/v1/users/nobody", key=ed), 404, "not-found")
    # A slash inside the id matches no route at all.
    h.assert_problem(put_user(api, ed, "a%2Fb", user("s@example.com")), 404, "not-found")


USER_RULES = [
    # (body, pointer, detail): one per rule
    ({"first_name": "A", "last_name": "B"}, "/email", "is required"),
    (user(email=None), "/email", "is required and cannot be null"),
    (user(email=5), "/email", "must be a string"),
    (user(email="no-at.example.com"), "/email", "must be an email address with one @"),
    (user(email="a@b@example.com"), "/email", "must be an email address with one @"),
    (user(email="@example.com"), "/email", "must have a local part before the @"),
    (user(email="x" * 65 + "@example.com"), "/email", "must have a local part of at most 64 characters"),
    (user(email="a" * 64 + "@" + ("d" * 60 + ".") * 3 + "d" * 10 + ".com"), "/email",
     "must be at most 254 characters"),
    (user(email=".ada@example.com"), "/email",
     "must not have a period at the start or end of the local part, or two in a row"),
    (user(email="ada.@example.com"), "/email",
     "must not have a period at the start or end of the local part, or two in a row"),
    (user(email="a..da@example.com"), "/email",
     "must not have a period at the start or end of the local part, or two in a row"),
    (user(email="a b@example.com"), "/email",
     "must have a local part of letters, digits and !#$%&'*+/=?^_`{|}~.-"),
    (user(email='"ada"@example.com'), "/email",
     "must have a local part of letters, digits and !#$%&'*+/=?^_`{|}~.-"),
    (user(email="ada@localhost"), "/email", "must have a domain with at least two labels (example.com)"),
    (user(email="ada@-bad.example.com"), "/email",
     "must not have a domain label that starts or ends with a hyphen"),
    (user(email="ada@exa_mple.com"), "/email", "must have a domain of letters, digits, hyphens and periods"),
    (user(email="ada@example..com"), "/email",
     "must have a domain of labels of 1 to 63 characters separated by periods"),
    (user(email="ada@10.0.0.1"), "/email", "must have a domain whose last label is not all digits"),
    (user(email="ada@example.com."), "/email", "must not end with a period"),
    (user(email="adä@example.com"), "/email",
     "must have a local part of letters, digits and !#$%&'*+/=?^_`{|}~.-"),
    ({"email": "a@example.com", "last_name": "B"}, "/first_name", "is required"),
    ({"email": "a@example.com", "first_name": "A"}, "/last_name", "is required"),
    (user(first=""), "/first_name", "must not be empty"),
    (user(first="x" * 256), "/first_name", "must be at most 255 characters"),
    (user(last="a\u007fb"), "/last_name", "must not contain control characters"),
    (user(first="Ada\tB"), "/first_name", "must not contain control characters"),
    (user(first="   "), "/first_name", "must not be only white space"),
    (user(first=None), "/first_name", "is required and cannot be null"),
    (user(state="deleted"), "/state", "must be one of staged, active, suspended"),
    (user(state=None), "/state", "must be one of staged, active, suspended"),
    (user(alternate_email="not an email"), "/alternate_email", "must be an email address with one @"),
    (user(alternate_email=7), "/alternate_email", "must be a string"),
    (user(manager_id="bad id"), "/manager_id",
     "must be a user id (1 to 128 characters of A-Z a-z 0-9 . _ : -)"),
    (user(job_title="x" * 256), "/job_title", "must be at most 255 characters"),
    (user(department="a\nb"), "/department", "must not contain control characters"),
    (user(cost_center=1), "/cost_center", "must be a string"),
    (user(employee_type="x" * 256), "/employee_type", "must be at most 255 characters"),
    (user(employee_id="x" * 256), "/employee_id", "must be at most 255 characters"),
    (user(company="x" * 256), "/company", "must be at most 255 characters"),
    (user(location="x" * 256), "/location", "must be at most 255 characters"),
    (user(addresses={"type": "home"}), "/addresses", "must be an array (or null)"),
    (user(addresses=[{"type": "home"}] * 11), "/addresses", "must have at most 10 items"),
    (user(addresses=["home"]), "/addresses/0", "must be an object"),
    (user(addresses=[{"type": "work"}, {"locality": "X"}]), "/addresses/1/type", "is required"),
    (user(addresses=[{"type": "office"}]), "/addresses/0/type", "must be one of home, work, other"),
    (user(addresses=[{"type": "home", "street": "x"}]), "/addresses/0/street", "unknown field"),
    (user(addresses=[{"type": "home", "locality": "x" * 256}]), "/addresses/0/locality",
     "must be at most 255 characters"),
    (user(addresses=[{"type": "home", "postal_code": "1" * 33}]), "/addresses/0/postal_code",
     "must be at most 32 characters"),
    (user(addresses=[{"type": "home", "formatted": "x" * 1025}]), "/addresses/0/formatted",
     "must be at most 1024 characters"),
    (user(addresses=[{"type": "home", "country": 1}]), "/addresses/0/country", "must be a string"),
    (user(phones=[{"type": "work", "value": "1"}] * 21), "/phones", "must have at most 20 items"),
    (user(phones=[{"type": "work", "value": "123"}, {"type": "work", "value": "1"},
                  {"type": "pager", "value": "123"}]), "/phones/2/type",
     "must be one of home, mobile, other, work, work_fax, work_mobile"),
    (user(phones=[{"type": "work", "value": "12"}]), "/phones/0/value", "must be 3 to 64 characters"),
    (user(phones=[{"type": "work", "value": "1" * 65}]), "/phones/0/value", "must be 3 to 64 characters"),
    (user(phones=[{"type": "work", "value": "call 555"}]), "/phones/0/value",
     "must contain only digits, spaces and + - ( ) ."),
    (user(phones=[{"type": "work", "value": "+-()"}]), "/phones/0/value", "must contain a digit"),
    (user(phones=[{"type": "work"}]), "/phones/0/value", "is required"),
    (user(phones=[{"value": "555"}]), "/phones/0/type", "is required"),
    (user(phones=[{"type": "work", "value": "555", "primary": True}]), "/phones/0/primary", "unknown field"),
    (user(colour="red"), "/colour", "unknown field"),
    (user(password="secret123"), "/password", "unknown field; set it with POST /v1/users/{id}/password"),
    (user(id="u-1"), "/id", "is read-only"),
    (user(password_set=True), "/password_set", "is read-only"),
]


def test_user_validation_names_each_rule(api, keys, db):
    ed = keys["editor"]
    for body, pointer, detail in USER_RULES:
        assert_error(put_user(api, ed, "u-1", body), pointer, detail)
    # Several errors at once, each named.
    r = put_user(api, ed, "u-1", {"email": "x", "first_name": "\u0085", "extra": 1, "phones": [{}]})
    pointers = {e["pointer"] for e in errors_of(r)}
    assert {"/email", "/first_name", "/last_name", "/extra", "/phones/0/type", "/phones/0/value"} <= pointers
    # Nothing was written by the refused requests.
    assert sql(db, "SELECT count(*) FROM directory_users")[0][0] == 0
    # The limits themselves are accepted.
    ok = user(email="a" * 64 + "@example.com", first="é" * 255, last="O'Brien-Smith / Jr.",
              job_title="x" * 255, phones=[{"type": "work_fax", "value": "1" * 64}],
              addresses=[{"type": "other", "formatted": "y" * 1024}] * 10)
    assert put_user(api, ed, "u-1", ok).status_code == 201


def test_body_must_be_json_object(api, keys):
    ed = keys["editor"]
    r = api.request("PUT", "/v1/users/u-1", ed, data=b"[1]", headers={"Content-Type": "application/json"})
    h.assert_problem(r, 400, "malformed-json")
    r = api.request("PUT", "/v1/users/u-1", ed, data=b"email=x", headers={"Content-Type": "text/plain"})
    h.assert_problem(r, 415, "unsupported-media-type")


def test_email_unique_per_tenant_ignoring_case(api, keys):
    ed = keys["editor"]
    must_put_user(api, ed, "u-1", user("ada@example.com"))
    body = h.assert_problem(put_user(api, ed, "u-2", user("ADA@Example.COM")), 409, "conflict")
    assert "email" in body["detail"]
    h.assert_problem(api.get("/v1/users/u-2", key=ed), 404)
    must_put_user(api, ed, "u-2", user("bob@example.com"))
    h.assert_problem(patch(api, "/v1/users/u-2", ed, {"email": "Ada@example.com"}), 409, "conflict")
    # The same user may change the case of its own email.
    assert put_user(api, ed, "u-1", user("Ada@Example.com")).status_code == 200
    # Another tenant may use the same email.
    assert put_user(api, keys["other"], "u-9", user("ada@example.com")).status_code == 201


def test_manager_must_be_another_user_and_is_cleared_on_delete(api, keys):
    ed = keys["editor"]
    must_put_user(api, ed, "boss", user("boss@example.com"))
    # A user of another tenant is no manager here.
    must_put_user(api, keys["other"], "foreign", user("f@example.com"))
    assert_reference_error(put_user(api, ed, "u-1", user(manager_id="foreign")),
                           "manager_id names no user of this tenant")
    assert_reference_error(put_user(api, ed, "u-1", user(manager_id="ghost")),
                           "manager_id names no user of this tenant")
    assert_reference_error(put_user(api, ed, "u-1", user(manager_id="u-1")),
                           "must be another user, not the user itself")
    u = must_put_user(api, ed, "u-1", user("u1@example.com", manager_id="boss"))
    assert u["manager_id"] == "boss"
    assert_reference_error(patch(api, "/v1/users/u-1", ed, {"manager_id": "u-1"}),
                           "must be another user, not the user itself")
    before = api.get("/v1/users/u-1", key=ed).headers["ETag"]
    assert api.delete("/v1/users/boss", key=ed).status_code == 204
    r = api.get("/v1/users/u-1", key=ed)
    assert r.json()["manager_id"] is None
    assert r.headers["ETag"] != before  # its representation changed, so did its version


def test_patch_is_a_merge_patch(api, keys):
    ed = keys["editor"]
    must_put_user(api, ed, "boss", user("boss@example.com"))
    full = must_put_user(api, ed, "u-1", dict(FULL, manager_id="boss"))
    r = api.request("PATCH", "/v1/users/u-1", ed, data=b'{"job_title": "Commodore", "phones": null, '
                    b'"manager_id": null, "alternate_email": null, "state": "suspended"}',
                    headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    u = h.assert_schema(r.json(), "User")
    assert u["job_title"] == "Commodore" and u["state"] == "suspended"
    assert u["phones"] == [] and u["manager_id"] is None and u["alternate_email"] is None
    for k in ("email", "first_name", "last_name", "department", "addresses", "company", "created_at"):
        assert u[k] == full[k], k
    # Arrays are replaced whole.
    r = patch(api, "/v1/users/u-1", ed, {"addresses": [{"type": "other", "country": "FR"}]})
    assert r.json()["addresses"] == [{"type": "other", "country": "FR"}]
    # An empty patch changes nothing.
    r = patch(api, "/v1/users/u-1", ed, {})
    assert r.status_code == 200 and r.headers["ETag"] == '"3"'
    # Required fields cannot be cleared; each member is checked as on PUT.
    for field in ("email", "first_name", "last_name"):
        assert_error(patch(api, "/v1/users/u-1", ed, {field: None}), f"/{field}",
                     "is required and cannot be null")
    assert_error(patch(api, "/v1/users/u-1", ed, {"state": None}), "/state",
                 "must be one of staged, active, suspended")
    assert_error(patch(api, "/v1/users/u-1", ed, {"phones": [{"type": "x", "value": "123"}]}),
                 "/phones/0/type")
    assert_error(patch(api, "/v1/users/u-1", ed, {"nickname": "x"}), "/nickname", "unknown field")
    assert_reference_error(patch(api, "/v1/users/u-1", ed, {"manager_id": "ghost"}),
                           "manager_id names no user of this tenant")
    assert api.get("/v1/users/u-1", key=ed).headers["ETag"] == '"3"'
    h.assert_problem(patch(api, "/v1/users/nobody", ed, {"state": "active"}), 404, "not-found")


def test_etags_and_if_match(api, keys, db):
    ed = keys["editor"]
    # If-Match never creates.
    h.assert_problem(put_user(api, ed, "u-1", user(), **{"If-Match": "*"}), 412, "precondition-failed")
    h.assert_problem(put_user(api, ed, "u-1", user(), **{"If-Match": '"1"'}), 412, "precondition-failed")
    assert sql(db, "SELECT count(*) FROM directory_users")[0][0] == 0
    must_put_user(api, ed, "u-1")
    # Match, mismatch, "*", weak form, garbage.
    r = put_user(api, ed, "u-1", user(first="Ada2"), **{"If-Match": '"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    h.assert_problem(put_user(api, ed, "u-1", user(first="Ada3"), **{"If-Match": '"1"'}), 412,
                     "precondition-failed")
    r = put_user(api, ed, "u-1", user(first="Ada3"), **{"If-Match": "*"})
    assert r.status_code == 200 and r.headers["ETag"] == '"3"'
    # A weak tag never matches (RFC 9110 §13.1.1: If-Match compares strongly), even the current one.
    weak = {"If-Match": 'W/"3"'}
    assert "weak" in h.assert_problem(patch(api, "/v1/users/u-1", ed, {"first_name": "W"}, **weak),
                                      412, "precondition-failed")["detail"]
    h.assert_problem(put_user(api, ed, "u-1", user(first="W"), **weak), 412, "precondition-failed")
    h.assert_problem(api.delete("/v1/users/u-1", key=ed, headers=weak), 412, "precondition-failed")
    assert api.get("/v1/users/u-1", key=ed).headers["ETag"] == '"3"'
    r = patch(api, "/v1/users/u-1", ed, {"first_name": "Ada4"}, **{"If-Match": '"3"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"4"'
    h.assert_problem(patch(api, "/v1/users/u-1", ed, {"first_name": "X"}, **{"If-Match": '"3"'}), 412)
    h.assert_problem(patch(api, "/v1/users/u-1", ed, {"first_name": "X"}, **{"If-Match": "garbage"}), 400)
    assert api.get("/v1/users/u-1", key=ed).json()["first_name"] == "Ada4"
    # Password with If-Match.
    h.assert_problem(api.post("/v1/users/u-1/password", key=ed, json={"password": "Secret-123"},
                              headers={"If-Match": '"1"'}), 412)
    r = api.post("/v1/users/u-1/password", key=ed, json={"password": "Secret-123"}, headers={"If-Match": '"4"'})
    assert r.status_code == 200, r.text
    assert api.get("/v1/users/u-1", key=ed).headers["ETag"] == '"5"'
    # Delete: mismatch keeps the user; match deletes; missing is 404 even with If-Match.
    h.assert_problem(api.delete("/v1/users/u-1", key=ed, headers={"If-Match": '"4"'}), 412)
    assert api.get("/v1/users/u-1", key=ed).status_code == 200
    assert api.delete("/v1/users/u-1", key=ed, headers={"If-Match": '"5"'}).status_code == 204
    h.assert_problem(api.delete("/v1/users/u-1", key=ed, headers={"If-Match": '"5"'}), 404)
    h.assert_problem(api.delete("/v1/users/u-1", key=ed), 404)


def test_list_pages_and_filters(api, keys):
    ed = keys["editor"]
    states = ["staged", "active", "suspended"]
    ids = [f"u{i:03d}" for i in range(25)]
    for i, uid in enumerate(ids):
        must_put_user(api, ed, uid, user(f"user{i}@example.com", state=states[i % 3]))
    must_put_user(api, keys["other"], "zz-other", user("other@example.com"))

    def collect(query):
        seen, cursor, pages = [], None, 0
        while True:
            q = query + (f"&cursor={cursor}" if cursor else "")
            r = api.get(f"/v1/users?{q}", key=ed)
            assert r.status_code == 200, r.text
            body = r.json()
            for item in body["items"]:
                h.assert_schema(item, "User")
            seen += [u["id"] for u in body["items"]]
            pages += 1
            cursor = body.get("next_cursor")
            if not cursor:
                return seen, pages

    seen, pages = collect("limit=10")
    assert seen == ids and pages == 3
    seen, pages = collect("limit=3&state=active")
    assert seen == [uid for i, uid in enumerate(ids) if i % 3 == 1] and pages == 3
    seen, _ = collect("state=suspended&limit=100")
    assert seen == [uid for i, uid in enumerate(ids) if i % 3 == 2]
    assert collect("email=USER7%40Example.com")[0] == ["u007"]
    assert collect("email=user7@example.com&state=active")[0] == ["u007"]
    assert collect("email=user7@example.com&state=staged")[0] == []
    assert collect("email=nobody@example.com")[0] == []
    assert len(api.get("/v1/users", key=ed).json()["items"]) == 20
    assert_error(api.get("/v1/users?state=gone", key=ed), "/query/state",
                 "must be one of staged, active, suspended")
    assert_error(api.get("/v1/users?limit=0", key=ed), "/query/limit")
    assert_error(api.get("/v1/users?limit=101", key=ed), "/query/limit")
    assert_error(api.get("/v1/users?cursor=bo%20gus", key=ed), "/query/cursor")


def test_reader_reads_but_cannot_write(api, keys):
    ed, rd = keys["editor"], keys["reader"]
    must_put_user(api, ed, "u-1")
    assert put(api, "/v1/groups/g-1", ed, {"name": "G"}).status_code == 201
    assert api.request("PUT", "/v1/groups/g-1/members/u-1", ed).status_code == 201
    for r in (
        put_user(api, rd, "u-2"),
        patch(api, "/v1/users/u-1", rd, {"state": "active"}),
        api.delete("/v1/users/u-1", key=rd),
        api.post("/v1/users/u-1/password", key=rd, json={"password": "Secret-123"}),
        put(api, "/v1/groups/g-2", rd, {"name": "G2"}),
        api.delete("/v1/groups/g-1", key=rd),
        api.request("PUT", "/v1/groups/g-1/members/u-1", rd),
        api.request("DELETE", "/v1/groups/g-1/members/u-1", rd),
    ):
        h.assert_problem(r, 403, "forbidden")
    for path in ("/v1/users", "/v1/users/u-1", "/v1/groups", "/v1/groups/g-1", "/v1/groups/g-1/members"):
        assert api.get(path, key=rd).status_code == 200, path
    assert api.get("/v1/users/u-1", key=rd).json()["password_set"] is False
    assert [m["user_id"] for m in api.get("/v1/groups/g-1/members", key=rd).json()["items"]] == ["u-1"]
    assert api.get("/v1/users", key=None).status_code == 401


def test_other_tenant_sees_and_changes_nothing(api, keys, db):
    ed, other = keys["editor"], keys["other"]
    must_put_user(api, ed, "u-1", FULL)
    must_put_user(api, ed, "u-2", user("two@example.com"))
    assert put(api, "/v1/groups/g-1", ed, {"name": "G", "email": "g@example.com"}).status_code == 201
    assert api.request("PUT", "/v1/groups/g-1/members/u-1", ed).status_code == 201
    assert api.get("/v1/users", key=other).status_code == 200  # marks the key used first
    before = dump_database(db)

    for r in (
        api.get("/v1/users/u-1", key=other),
        patch(api, "/v1/users/u-1", other, {"state": "active"}),
        api.delete("/v1/users/u-1", key=other),
        api.post("/v1/users/u-1/password", key=other, json={"password": "Secret-123"}),
        api.get("/v1/groups/g-1", key=other),
        api.delete("/v1/groups/g-1", key=other),
        api.get("/v1/groups/g-1/members", key=other),
        api.request("PUT", "/v1/groups/g-1/members/u-1", other),
        api.request("DELETE", "/v1/groups/g-1/members/u-1", other),
    ):
        h.assert_problem(r, 404, "not-found")
    assert api.get("/v1/users", key=other).json()["items"] == []
    assert api.get("/v1/users?email=ada%40example.com", key=other).json()["items"] == []
    assert api.get("/v1/groups", key=other).json()["items"] == []
    # Failed attempts wrote nothing (audit rows included).
    assert dump_database(db) == before

    # PUT under the same ids makes the other tenant's own rows; ours stay as they were.
    assert put_user(api, other, "u-1", user("mine@example.com")).status_code == 201
    assert put(api, "/v1/groups/g-1", other, {"name": "Theirs"}).status_code == 201
    # Their group cannot take our user as a member: no such user in their tenant.
    body = h.assert_problem(api.request("PUT", "/v1/groups/g-1/members/u-2", other), 404)
    assert body["detail"] == "no such user"
    assert api.get("/v1/users/u-1", key=ed).json()["email"] == FULL["email"]
    assert api.get("/v1/groups/g-1", key=ed).json()["name"] == "G"
    assert [u["id"] for u in api.get("/v1/users", key=other).json()["items"]] == ["u-1"]


# ---- passwords ----

PASSWORD = "Correct-Horse-7Battery"


def test_clear_password_is_hashed_and_never_seen(api, keys, db):
    ed = keys["editor"]
    must_put_user(api, ed, "u-1")
    responses = []
    r = api.post("/v1/users/u-1/password", key=ed, json={"password": PASSWORD},
                 headers={"X-Request-Id": "pw-set"})
    responses.append(r)
    assert r.status_code == 200, r.text
    body = h.assert_schema(r.json(), "PasswordStatus")
    assert body["password_set"] is True and TIME.fullmatch(body["password_set_at"])
    got = api.get("/v1/users/u-1", key=ed)
    responses.append(got)
    u = got.json()
    assert u["password_set"] is True and u["password_set_at"] == body["password_set_at"]
    assert got.headers["ETag"] == '"2"'
    responses.append(api.get("/v1/users", key=ed))
    # A refused password is not echoed either.
    responses.append(api.post("/v1/users/u-1/password", key=ed, json={"password": PASSWORD + "\u00e9"}))
    responses.append(api.post("/v1/users/u-1/password", key=ed,
                              json={"password": PASSWORD, "hash": "x", "hash_function": "MD5"}))
    responses.append(api.get("/v1/audit-events?limit=100", key=ed))

    (stored, function), = sql(db, "SELECT password_hash, password_hash_function FROM directory_users")
    assert function == "crypt"
    assert re.fullmatch(r"\$6\$rounds=10000\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}", stored), stored
    assert crypt.crypt(PASSWORD, stored) == stored
    assert crypt.crypt(PASSWORD + "x", stored) != stored

    for resp in responses:
        assert PASSWORD not in resp.text and stored not in resp.text
        assert PASSWORD not in str(resp.headers)
    assert "password_hash" not in responses[1].text
    api.process.wait_for(lambda rec: rec.get("event") == "user_password_set")
    logs = api.process.all_output()
    assert PASSWORD not in logs and stored not in logs
    dump = dump_database(db)
    assert PASSWORD not in dump
    # The hash itself lives in its one column only (never in the audit trail).
    assert dump.count(stored) == 1


def test_password_rules(api, keys, db):
    ed = keys["editor"]
    must_put_user(api, ed, "u-1")
    rules = [
        ({"password": "Short-1"}, "/password", "must be at least 8 characters"),
        ({"password": "x" * 101}, "/password", "must be at most 100 characters"),
        ({"password": "pässwörd-123"}, "/password", "must contain only printable ASCII characters"),
        ({"password": "tab\there-123"}, "/password", "must contain only printable ASCII characters"),
        ({"password": "nul\u0000byte-123"}, "/password", "must not contain control characters"),
        ({"password": 12345678}, "/password", "must be a string"),
        ({"password": None}, "/password", "must be a string"),
        ({}, "/password", "is required (or send hash with hash_function)"),
        ({"password": "Secret-123", "hash": GOOD_CRYPT}, "/password",
         "send either password or hash with hash_function, not both"),
        ({"password": "Secret-123", "pin": 1}, "/pin", "unknown field"),
    ]
    for body, pointer, detail in rules:
        assert_error(api.post("/v1/users/u-1/password", key=ed, json=body), pointer, detail)
    assert sql(db, "SELECT password_hash FROM directory_users")[0][0] is None
    for pw in ("8chars!!", "x" * 100, " spaces and ~ tildes "):
        assert api.post("/v1/users/u-1/password", key=ed, json={"password": pw}).status_code == 200
        stored = sql(db, "SELECT password_hash FROM directory_users")[0][0]
        assert crypt.crypt(pw, stored) == stored
    h.assert_problem(api.post("/v1/users/nobody/password", key=ed, json={"password": "Secret-123"}), 404)


def test_password_hash_forms(api, keys, db):
    ed = keys["editor"]
    must_put_user(api, ed, "u-1")
    real6 = crypt.crypt("helloworld", "$6$rounds=5000$abcdefgh12345678")
    real5 = crypt.crypt("helloworld", "$5$saltsalt")
    real1 = crypt.crypt("helloworld", "$1$saltsalt")
    accepted = [
        ("crypt", real6, real6),
        ("crypt", real5, real5),
        ("crypt", real1, real1),
        ("crypt", GOOD_CRYPT, GOOD_CRYPT),
        ("SHA-1", "6ADFB183A4A2C94A2F92DAB5ADE762A47889A5A1", "6adfb183a4a2c94a2f92dab5ade762a47889a5a1"),
        ("MD5", "fc5e038d38a57032085441e7fe7010b0", "fc5e038d38a57032085441e7fe7010b0"),
        # LDAP forms (RFC 2307): base64 of the digest, stored as the lower-case hex Google wants
        ("SHA-1", "{SHA}at+xg6SiyUovktq1redipHiJpaE=", "6adfb183a4a2c94a2f92dab5ade762a47889a5a1"),
        ("MD5", "{MD5}/F4DjTilcDIIVEHn/nAQsA==", "fc5e038d38a57032085441e7fe7010b0"),
        # SHA-512 crypt without a rounds prefix (5,000 rounds) is kept as it is
        ("crypt", crypt.crypt("helloworld", "$6$saltsalt"), crypt.crypt("helloworld", "$6$saltsalt")),
    ]
    for function, given, kept in accepted:
        r = api.post("/v1/users/u-1/password", key=ed, json={"hash": given, "hash_function": function})
        assert r.status_code == 200, (given, r.text)
        assert given not in r.text
        assert sql(db, "SELECT password_hash, password_hash_function FROM directory_users")[0] == (kept, function)
    rejected = [
        ({"hash": "{SHA}/F4DjTilcDIIVEHn/nAQsA==", "hash_function": "SHA-1"}, "/hash",
         "is not the base64 of a 20-byte SHA-1 digest"),
        ({"hash": "{MD5}not*base64!!!!!!", "hash_function": "MD5"}, "/hash", "is not valid base64"),
        ({"hash": "$6$rounds=656000$saltsalt$" + "a" * 86, "hash_function": "crypt"}, "/hash",
         "must use from 1000 to 10000 rounds (Google's maximum is 10000)"),
        ({"hash": "$6$rounds=10001$saltsalt$" + "a" * 86, "hash_function": "crypt"}, "/hash",
         "must use from 1000 to 10000 rounds (Google's maximum is 10000)"),
        ({"hash": "$6$rounds=99$saltsalt$" + "a" * 86, "hash_function": "crypt"}, "/hash",
         "must use from 1000 to 10000 rounds (Google's maximum is 10000)"),
        ({"hash": "$6$rounds=x$saltsalt$" + "a" * 86, "hash_function": "crypt"}, "/hash",
         "has a malformed rounds= field"),
        ({"hash": "$2b$10$" + "a" * 53, "hash_function": "crypt"}, "/hash",
         "must be a crypt hash starting with $1$, $5$ or $6$"),
        ({"hash": "abJnggxhB/yWI", "hash_function": "crypt"}, "/hash",
         "must be a crypt hash starting with $1$, $5$ or $6$"),
        ({"hash": "$6$saltsalt$" + "a" * 85, "hash_function": "crypt"}, "/hash",
         "must end in 86 characters from [./0-9A-Za-z] ($6$)"),
        ({"hash": "$5$saltsalt$" + "a" * 42 + "!", "hash_function": "crypt"}, "/hash",
         "must end in 43 characters from [./0-9A-Za-z] ($5$)"),
        ({"hash": "$1$saltsaltX$" + "a" * 22, "hash_function": "crypt"}, "/hash",
         "must have a salt of 1 to 8 characters from [./0-9A-Za-z]"),
        ({"hash": "$6$" + "s" * 17 + "$" + "a" * 86, "hash_function": "crypt"}, "/hash",
         "must have a salt of 1 to 16 characters from [./0-9A-Za-z]"),
        ({"hash": "$6$nosalthash", "hash_function": "crypt"}, "/hash",
         "must have a salt and a hash separated by $"),
        ({"hash": "a" * 39, "hash_function": "SHA-1"}, "/hash", "must be 40 hexadecimal digits (SHA-1)"),
        ({"hash": "g" * 40, "hash_function": "SHA-1"}, "/hash", "must contain only hexadecimal digits"),
        ({"hash": "a" * 33, "hash_function": "MD5"}, "/hash", "must be 32 hexadecimal digits (MD5)"),
        ({"hash": "a" * 200, "hash_function": "MD5"}, "/hash", "is too long"),
        ({"hash": "a" * 32}, "/hash_function", "is required with hash"),
        ({"hash": "a" * 64, "hash_function": "SHA-256"}, "/hash_function",
         "must be one of crypt, SHA-1, MD5"),
        ({"hash_function": "MD5"}, "/hash", "is required with hash_function"),
        ({"hash": 5, "hash_function": "MD5"}, "/hash", "must be a string"),
    ]
    for body, pointer, detail in rejected:
        assert_error(api.post("/v1/users/u-1/password", key=ed, json=body), pointer, detail)
    # The last accepted hash is still the one kept.
    assert sql(db, "SELECT password_hash FROM directory_users")[0][0] == accepted[-1][2]


# ---- groups and members ----

GROUP_RULES = [
    ({}, "/name", "is required"),
    ({"name": None}, "/name", "is required and cannot be null"),
    ({"name": 3}, "/name", "must be a string"),
    ({"name": ""}, "/name", "must not be empty"),
    ({"name": "x" * 256}, "/name", "must be at most 255 characters"),
    ({"name": "a\u0001b"}, "/name", "must not contain control characters"),
    ({"name": "G", "description": "d" * 4097}, "/description", "must be at most 4096 characters"),
    ({"name": "G", "description": 1}, "/description", "must be a string"),
    ({"name": "G", "email": "not-an-email"}, "/email", "must be an email address with one @"),
    ({"name": "G", "email": "a b@example.com"}, "/email",
     "must have a local part of letters, digits and !#$%&'*+/=?^_`{|}~.-"),
    ({"name": "G", "members": []}, "/members", "unknown field"),
    ({"name": "G", "id": "g-1"}, "/id", "is read-only"),
]


def test_groups(api, keys, db):
    ed = keys["editor"]
    for body, pointer, detail in GROUP_RULES:
        assert_error(put(api, "/v1/groups/g-1", ed, body), pointer, detail)
    assert_error(put(api, "/v1/groups/bad%20id", ed, {"name": "G"}), "/path/group_id")
    h.assert_problem(api.get("/v1/groups/bad%20id", key=ed), 404)
    assert sql(db, "SELECT count(*) FROM directory_groups")[0][0] == 0

    r = put(api, "/v1/groups/g-1", ed, {"name": "Engineering", "description": "Builds\nthings",
                                         "email": "eng@example.com"})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/v1/groups/g-1" and r.headers["ETag"] == '"1"'
    g = h.assert_schema(r.json(), "Group")
    assert g["name"] == "Engineering" and g["description"] == "Builds\nthings"
    assert g["email"] == "eng@example.com" and g["id"] == "g-1"
    got = api.get("/v1/groups/g-1", key=ed)
    assert got.json() == g and got.headers["ETag"] == '"1"'
    r = put(api, "/v1/groups/g-1", ed, {"name": "Engineering", "description": "Builds\nthings",
                                         "email": "eng@example.com"})
    assert r.status_code == 200 and r.headers["ETag"] == '"1"'
    r = put(api, "/v1/groups/g-1", ed, {"name": "Eng"})
    assert r.status_code == 200 and r.headers["ETag"] == '"2"'
    assert r.json()["description"] is None and r.json()["email"] is None

    # Email unique per tenant ignoring case.
    assert put(api, "/v1/groups/g-2", ed, {"name": "Two", "email": "two@example.com"}).status_code == 201
    h.assert_problem(put(api, "/v1/groups/g-3", ed, {"name": "3", "email": "TWO@example.com"}), 409, "conflict")
    assert put(api, "/v1/groups/g-3", keys["other"], {"name": "3", "email": "two@example.com"}).status_code == 201

    # If-Match.
    h.assert_problem(put(api, "/v1/groups/g-1", ed, {"name": "X"}, **{"If-Match": '"1"'}), 412)
    h.assert_problem(put(api, "/v1/groups/g-9", ed, {"name": "X"}, **{"If-Match": "*"}), 412)
    assert put(api, "/v1/groups/g-1", ed, {"name": "X"}, **{"If-Match": '"2"'}).headers["ETag"] == '"3"'
    h.assert_problem(api.delete("/v1/groups/g-1", key=ed, headers={"If-Match": '"2"'}), 412)

    # Pages.
    for i in range(5):
        assert put(api, f"/v1/groups/p{i}", ed, {"name": f"P{i}"}).status_code == 201
    seen, cursor = [], None
    while True:
        r = api.get("/v1/groups?limit=3" + (f"&cursor={cursor}" if cursor else ""), key=ed)
        for item in r.json()["items"]:
            h.assert_schema(item, "Group")
        seen += [x["id"] for x in r.json()["items"]]
        cursor = r.json().get("next_cursor")
        if not cursor:
            break
    assert seen == ["g-1", "g-2", "p0", "p1", "p2", "p3", "p4"]

    assert api.delete("/v1/groups/g-1", key=ed, headers={"If-Match": '"3"'}).status_code == 204
    h.assert_problem(api.get("/v1/groups/g-1", key=ed), 404)
    h.assert_problem(api.delete("/v1/groups/g-1", key=ed), 404)


def test_group_members(api, keys, db):
    ed = keys["editor"]
    assert put(api, "/v1/groups/g-1", ed, {"name": "G"}).status_code == 201
    for i in range(7):
        must_put_user(api, ed, f"m{i}", user(f"m{i}@example.com"))

    r = api.request("PUT", "/v1/groups/g-1/members/m0", ed)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/v1/groups/g-1/members/m0" and r.headers["ETag"] == '"1"'
    m = h.assert_schema(r.json(), "Member")
    assert m["group_id"] == "g-1" and m["user_id"] == "m0" and m["email"] == "m0@example.com"
    r = api.request("PUT", "/v1/groups/g-1/members/m0", ed)
    assert r.status_code == 200 and r.json() == m
    body = h.assert_problem(api.request("PUT", "/v1/groups/g-1/members/ghost", ed), 404)
    assert body["detail"] == "no such user"
    body = h.assert_problem(api.request("PUT", "/v1/groups/ghost/members/m0", ed), 404)
    assert body["detail"] == "no such group"
    h.assert_problem(api.request("PUT", "/v1/groups/g-1/members/bad%20id", ed), 404)
    h.assert_problem(api.get("/v1/groups/ghost/members", key=ed), 404)

    for i in range(1, 7):
        assert api.request("PUT", f"/v1/groups/g-1/members/m{i}", ed).status_code == 201
    seen, cursor, pages = [], None, 0
    while True:
        r = api.get("/v1/groups/g-1/members?limit=3" + (f"&cursor={cursor}" if cursor else ""), key=ed)
        assert r.status_code == 200, r.text
        for item in r.json()["items"]:
            h.assert_schema(item, "Member")
        seen += [x["user_id"] for x in r.json()["items"]]
        pages += 1
        cursor = r.json().get("next_cursor")
        if not cursor:
            break
    assert seen == [f"m{i}" for i in range(7)] and pages == 3
    assert_error(api.get("/v1/groups/g-1/members?cursor=%25%25", key=ed), "/query/cursor")

    h.assert_problem(api.request("DELETE", "/v1/groups/g-1/members/m0", ed, headers={"If-Match": '"2"'}), 412)
    assert api.request("DELETE", "/v1/groups/g-1/members/m0", ed, headers={"If-Match": '"1"'}).status_code == 204
    h.assert_problem(api.request("DELETE", "/v1/groups/g-1/members/m0", ed), 404)
    # Deleting a user ends its memberships; deleting the group ends the rest.
    assert api.delete("/v1/users/m1", key=ed).status_code == 204
    ids = [x["user_id"] for x in api.get("/v1/groups/g-1/members?limit=100", key=ed).json()["items"]]
    assert ids == [f"m{i}" for i in range(2, 7)]
    assert api.delete("/v1/groups/g-1", key=ed).status_code == 204
    assert sql(db, "SELECT count(*) FROM group_members")[0][0] == 0
    assert api.get("/v1/groups/g-1/members", key=ed).status_code == 404


def test_audit_trail_without_secrets(api, keys, db):
    ed = keys["editor"]
    must_put_user(api, ed, "u-1")
    must_put_user(api, ed, "u-1", user(first="Ada2"))
    assert patch(api, "/v1/users/u-1", ed, {"state": "active"}).status_code == 200
    assert api.post("/v1/users/u-1/password", key=ed, json={"password": PASSWORD}).status_code == 200
    assert api.post("/v1/users/u-1/password", key=ed,
                    json={"hash": "a" * 40, "hash_function": "SHA-1"}).status_code == 200
    assert put(api, "/v1/groups/g-1", ed, {"name": "G"}).status_code == 201
    assert api.request("PUT", "/v1/groups/g-1/members/u-1", ed).status_code == 201
    assert api.request("DELETE", "/v1/groups/g-1/members/u-1", ed).status_code == 204
    assert api.delete("/v1/groups/g-1", key=ed).status_code == 204
    assert api.delete("/v1/users/u-1", key=ed).status_code == 204

    r = api.get("/v1/audit-events?limit=100", key=ed)
    assert r.status_code == 200, r.text
    events = [(e["resource_type"], e["resource_id"], e["action"]) for e in r.json()["items"]]
    events.reverse()  # oldest first
    assert events == [
        ("user", "u-1", "create"),
        ("user", "u-1", "update"),
        ("user", "u-1", "update"),
        ("user", "u-1", "set_password"),
        ("user", "u-1", "set_password"),
        ("group", "g-1", "create"),
        ("group_member", "g-1/u-1", "create"),
        ("group_member", "g-1/u-1", "delete"),
        ("group", "g-1", "delete"),
        ("user", "u-1", "delete"),
    ], events
    key_id = sql(db, "SELECT id::text FROM api_keys WHERE role = 'editor' AND tenant_id = "
                     "(SELECT id FROM tenants WHERE name = 'acme')")[0][0]
    for e in r.json()["items"]:
        assert e["actor_key_id"] == key_id
        for side in ("before", "after"):
            if e[side]:
                assert "password_hash" not in e[side]
    assert "a" * 40 not in r.text and PASSWORD not in r.text
    pw = [e for e in r.json()["items"] if e["action"] == "set_password"][0]  # newest first
    assert pw["after"]["password_hash_function"] == "SHA-1"
    # Another tenant sees none of it.
    assert api.get("/v1/audit-events", key=keys["other"]).json()["items"] == []
