"""What an outside review and an API fuzzer found (issue 10): the auth cache across replicas (1),
path parameters decoded once (2), invalid Unicode refused (3), the key checked before the body is
read (6), and log lines that stay JSON whatever a client sends (14)."""
import http.client
import json
import re
import time
import urllib.parse

import pytest

import gwsync_harness as h


def user(email="ada@example.com", first="Ada", last="Lovelace", **more):
    return {"email": email, "first_name": first, "last_name": last, **more}


def raw(api, method, path, key=None, body=None, headers=None):
    """One request with the path sent byte for byte (requests would re-quote it)."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if key:
        hdrs["Authorization"] = f"Bearer {key}"
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        return r.status, dict(r.getheaders()), text
    finally:
        conn.close()


def status_of(answer):
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


# ---------------------------------------------------------------- 1: auth cache across replicas

def test_revoked_key_is_refused_by_the_other_replica_under_continuous_use(db):
    """The cache TTL counts from the database check, so continuous use cannot keep a revoked key
    alive on another replica; every check also keeps last_used_at moving."""
    ttl = {"GWSYNC_AUTH_CACHE_TTL_MS": 1000}
    a, b = h.Api(db, **ttl), h.Api(db, **ttl)
    try:
        operator = h.create_key(db, "acme", "operator")
        reader = h.create_key(db, "acme", "reader")
        assert b.get("/v1/api-keys", key=reader).status_code == 200
        reader_id = next(k["id"] for k in a.get("/v1/api-keys", key=operator).json()["items"]
                         if k["role"] == "reader")
        h.sql(db, "UPDATE api_keys SET last_used_at = now() - interval '1 hour' WHERE id = %s",
              (reader_id,))

        def used_recently():
            return h.sql(db, "SELECT last_used_at > now() - interval '10 minutes' FROM api_keys "
                             "WHERE id = %s", (reader_id,))[0][0]

        # Used without a pause on B: B checks the database again once its entry is a TTL old.
        deadline = time.monotonic() + 30
        while not used_recently():
            assert b.get("/v1/api-keys", key=reader).status_code == 200
            assert time.monotonic() < deadline, "B never checked the key again while it was used"

        assert a.delete(f"/v1/api-keys/{reader_id}", key=operator).status_code == 204
        h.assert_problem(a.get("/v1/api-keys", key=reader), 401)
        deadline = time.monotonic() + 30
        while True:
            r = b.get("/v1/api-keys", key=reader)
            if r.status_code == 401:
                break
            assert r.status_code == 200, r.text
            assert time.monotonic() < deadline, "B kept accepting the revoked key while it was used"
        h.assert_problem(r, 401, "unauthorized")
    finally:
        for api in (a, b):
            status, _ = api.stop()
            h.assert_clean_exit(status, api.process)


# ---------------------------------------------------------------- 2: path parameters decoded once

def test_path_parameters_are_decoded_once(api, db):
    editor = h.create_key(db, "acme", "editor")
    # %2541 is "%41", not "A": an id the replica does not take, so nothing is created.
    status, _, text = raw(api, "PUT", "/v1/users/abc%2541", editor, user())
    assert status == 400, text
    body = json.loads(text)
    assert body["errors"][0]["pointer"] == "/path/user_id", body
    assert raw(api, "GET", "/v1/users/abcA", editor)[0] == 404
    # %41 is "A": the same user under either spelling.
    status, _, text = raw(api, "PUT", "/v1/users/abc%41", editor, user())
    assert status == 201, text
    assert json.loads(text)["id"] == "abcA"
    for path in ("/v1/users/abcA", "/v1/users/abc%41", "/v1/users/%61%62%63%41"):
        status, _, text = raw(api, "GET", path, editor)
        assert status == 200 and json.loads(text)["id"] == "abcA", (path, text)
    assert raw(api, "GET", "/v1/users/abc%2541", editor)[0] == 404
    assert raw(api, "DELETE", "/v1/users/abc%2541", editor)[0] == 404
    # Every character the id rule allows, spelled plainly and encoded.
    status, _, text = raw(api, "PUT", "/v1/users/a.b%3Ac-d_e", editor,
                          user(email="grace@example.com"))
    assert status == 201 and json.loads(text)["id"] == "a.b:c-d_e", text
    assert raw(api, "GET", "/v1/users/a%2Eb:c%2Dd%5Fe", editor)[0] == 200

    # '+', spaces, '%', non-ASCII and controls are refused as ids (400), never changed into one.
    for path in ("/v1/users/a+b", "/v1/users/a%20b", "/v1/users/a%2Bb", "/v1/users/100%25",
                 "/v1/users/caf%C3%A9", "/v1/users/%E2%82%AC", "/v1/users/a%0Ab", "/v1/users/%FF"):
        status, _, text = raw(api, "PUT", path, editor, user(email="x@example.com"))
        assert status == 400, (path, text)
        assert json.loads(text)["errors"][0]["pointer"] == "/path/user_id", (path, text)
        assert raw(api, "GET", path, editor)[0] == 404, path
    # An encoded '/' or NUL never reaches a handler and never splits the path.
    for path in ("/v1/users/a%2Fb", "/v1/users/abcA%2F", "/v1/users/a%00b", "/v1/users/%"):
        status, _, text = raw(api, "PUT", path, editor, user(email="y@example.com"))
        assert status == 404, (path, text)
    ids = sorted(u["id"] for u in api.get("/v1/users", key=editor).json()["items"])
    assert ids == ["a.b:c-d_e", "abcA"], ids


# ---------------------------------------------------------------- 3: invalid Unicode (and repeated names)

UNICODE_RULE = "must be valid Unicode: UTF-8, and no unpaired surrogate (\\ud800-\\udfff)"


DUPLICATE_RULE = "must appear only once in its object"


@pytest.mark.parametrize("body, pointer, rule", [(b, p, UNICODE_RULE) for b, p in [
    (b'{"email":"u@example.com","first_name":"a\\ud800","last_name":"L"}', "/first_name"),
    (b'{"email":"u@example.com","first_name":"a\\udc00","last_name":"L"}', "/first_name"),
    (b'{"email":"u@example.com","first_name":"\\ud800\\u0041","last_name":"L"}', "/first_name"),
    (b'{"email":"u@example.com","first_name":"A","last_name":"L\xff"}', "/last_name"),
    (b'{"email":"u@example.com","first_name":"A","last_name":"\xed\xa0\x80"}', "/last_name"),
    (b'{"email":"u@example.com","first_name":"A","last_name":"L","phones":'
     b'[{"type":"work","value":"1"},{"type":"home","value":"2\\ud83d"}]}', "/phones/1/value"),
]] + [(b, p, DUPLICATE_RULE) for b, p in [
    # a member name repeated in one object: refused, never the last one kept
    (b'{"email":"u@example.com","first_name":"A","first_name":"B","last_name":"L"}', "/first_name"),
    (b'{"email":"u@example.com","first_name":"A","first_n\\u0061me":"B","last_name":"L"}', "/first_name"),
    (b'{"email":"u@example.com","first_name":"A","last_name":"L","phones":'
     b'[{"type":"work","value":"1"},{"type":"home","value":"2","type":"work"}]}', "/phones/1/type"),
]])
def test_invalid_unicode_and_repeated_names_are_refused_naming_the_field(api, db, body, pointer, rule):
    editor = h.create_key(db, "acme", "editor")
    status, _, text = raw(api, "PUT", "/v1/users/u1", editor, body)
    assert status == 400, text
    problem = json.loads(text)
    assert problem["type"] == "urn:gwsync:problem:validation", problem
    assert problem["errors"] == [{"pointer": pointer, "detail": rule}], problem
    assert raw(api, "GET", "/v1/users/u1", editor)[0] == 404


def test_invalid_unicode_is_refused_on_every_body(api, operator_key):
    status, _, text = raw(api, "POST", "/v1/tenants", operator_key, b'{"name":"a\\ud800"}')
    assert status == 400, text
    assert json.loads(text)["errors"] == [{"pointer": "/name", "detail": UNICODE_RULE}]
    assert [t["name"] for t in api.get("/v1/tenants", key=operator_key).json()["items"]] == ["acme"]


def test_valid_surrogate_pairs_and_non_ascii_are_kept(api, db):
    editor = h.create_key(db, "acme", "editor")
    body = b'{"email":"u@example.com","first_name":"\\ud83d\\ude00 \xc3\xa9","last_name":"\\u00e9"}'
    status, _, text = raw(api, "PUT", "/v1/users/u1", editor, body)
    assert status == 201, text
    got = api.get("/v1/users/u1", key=editor).json()
    assert (got["first_name"], got["last_name"]) == ("\U0001F600 \u00e9", "\u00e9"), got


# ---------------------------------------------------------------- path ids: one rule per kind

# Each kind of path id, with values its rule refuses (percent-encoded as sent).
PATH_ID_KINDS = {
    "uuid": ("not-a-uuid", "0123456789abcdef0123456789abcdef0123", "00000000-0000-0000-0000-00000000000g",
             "a%20b"),
    "directory": ("a%20b", "caf%C3%A9", "x" * 129, "a+b"),
    "domain": ("a_b.example", "-a.example", "example", "a%20b.example", "EXAMPLE..com"),
}
PATH_ID_KIND = {"tenant_id": "uuid", "key_id": "uuid", "integration_id": "uuid", "job_id": "uuid",
                "user_id": "directory", "group_id": "directory", "domain": "domain"}
PATH_ID_VALID = {"uuid": "6f1c1b9e-3a50-4a51-9a57-8f7c2f0c6d11", "directory": "u1", "domain": "example.com"}
# The routes that create what the id names refuse it as input (400 naming it), the others answer
# that no such thing exists (404): nothing with such an id can exist.
CREATES = {("PUT", "/v1/users/{user_id}"), ("PUT", "/v1/groups/{group_id}")}


def test_every_path_id_is_checked_by_its_kind_with_one_answer(api, db, operator_key):
    editor = h.create_key(db, "acme", "editor")
    routes = [(m.upper(), path) for path, item in h.openapi_spec()["paths"].items() if "{" in path
              for m in item if m in ("get", "put", "post", "patch", "delete")]
    assert len(routes) > 30, routes
    seen_kinds = set()
    for method, template in routes:
        names = re.findall(r"{(\w+)}", template)
        key = operator_key if template.startswith(("/v1/tenants", "/v1/api-keys")) else editor
        for name in names:
            kind = PATH_ID_KIND[name]  # a new path parameter needs its kind here
            seen_kinds.add(kind)
            for bad in PATH_ID_KINDS[kind]:
                path = template
                for other in names:
                    path = path.replace("{%s}" % other, bad if other == name else PATH_ID_VALID[PATH_ID_KIND[other]])
                status, headers, text = raw(api, method, path, key, {} if method in ("PUT", "POST", "PATCH") else None)
                where = f"{method} {path}"
                assert headers.get("Content-Type") == "application/problem+json", (where, status, text)
                problem = json.loads(text)
                if (method, template) in CREATES:
                    assert status == 400 and problem["type"] == "urn:gwsync:problem:validation", (where, text)
                    assert problem["errors"][0]["pointer"] == f"/path/{name}", (where, text)
                else:
                    assert status == 404 and problem["type"] == "urn:gwsync:problem:not-found", (where, status, text)
    assert seen_kinds == set(PATH_ID_KINDS)
    # openapi.yaml documents each kind's rule on every route, and the values above break it.
    spec = h.openapi_spec()
    for path, item in spec["paths"].items():
        params = list(item.get("parameters", []))
        for m in ("get", "put", "post", "patch", "delete"):
            params += item.get(m, {}).get("parameters", [])
        for prm in params:
            if "$ref" in prm:
                prm = spec["components"]["parameters"][prm["$ref"].rsplit("/", 1)[1]]
            if prm["in"] != "path":
                continue
            kind, schema = PATH_ID_KIND[prm["name"]], prm["schema"]
            if kind == "uuid":
                assert schema.get("format") == "uuid", (path, prm)
                continue
            assert "pattern" in schema, (path, prm)
            rule = re.compile(schema["pattern"])
            assert rule.search(PATH_ID_VALID[kind]), (path, prm)
            for bad in PATH_ID_KINDS[kind]:
                assert not rule.search(urllib.parse.unquote(bad)) or len(bad) > schema.get("maxLength", 1e9), \
                    (path, bad)
    assert [t["name"] for t in api.get("/v1/tenants", key=operator_key).json()["items"]] == ["acme"]
    assert api.get("/v1/users", key=editor).json()["items"] == []


# ---------------------------------------------------------------- repeated member names

def test_repeated_member_names_are_refused_on_every_body(api, operator_key):
    status, _, text = raw(api, "POST", "/v1/tenants", operator_key, b'{"name":"a","name":"b"}')
    assert status == 400, text
    assert json.loads(text)["errors"] == [{"pointer": "/name", "detail": DUPLICATE_RULE}]
    # A body that is not JSON is malformed first, whatever names it repeats before it breaks off.
    status, _, text = raw(api, "POST", "/v1/tenants", operator_key, b'{"name":"a","name":"b"')
    assert status == 400 and json.loads(text)["type"] == "urn:gwsync:problem:malformed-json", text
    # The same name in two objects is no repetition.
    status, _, text = raw(api, "POST", "/v1/tenants", operator_key, b'{"name":"ok","x":{"name":1}}')
    assert status == 400 and json.loads(text)["errors"][0]["pointer"] == "/x", text
    assert [t["name"] for t in api.get("/v1/tenants", key=operator_key).json()["items"]] == ["acme"]


# ---------------------------------------------------------------- 6: key before body

def headers_only(path, key=None, length=900_000, more=b""):
    auth = f"Authorization: Bearer {key}\r\n".encode() if key else b""
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n").encode() + auth + b"\r\n" + more


def test_refused_before_the_body_is_read(db):
    """The body is announced but never sent: only a refusal made from the headers can answer."""
    api = h.Api(db, GWSYNC_HTTP_REQUEST_TIMEOUT_MS=5000)
    try:
        reader = h.create_key(db, "acme", "reader")
        bad_key = "gwsk_" + "A" * 43
        for key, status in ((None, 401), (bad_key, 401), (reader, 403)):
            answer = h.socket_exchange(api.port, headers_only("/v1/tenants", key))
            assert status_of(answer) == status, answer[:300]
            head = answer.split(b"\r\n\r\n", 1)[0].lower()
            assert b"connection: close" in head, head
            assert b"application/problem+json" in head, head
        # With part of a large body sent: refused all the same, the connection closed unread.
        answer = h.socket_exchange(api.port, headers_only("/v1/tenants", None, 50_000_000,
                                                       b"{" + b" " * 60000))
        assert status_of(answer) == 401, answer[:300]
        # A key that may: the body is read and used.
        operator = h.create_key(db, "acme", "operator")
        r = api.post("/v1/tenants", key=operator, json={"name": "globex"})
        assert r.status_code == 201, r.text
        codes = [rec["status"] for rec in api.process.records
                 if rec.get("event") == "http_request" and rec.get("path") == "/v1/tenants"]
        assert codes[:4] == [401, 401, 403, 401], codes
    finally:
        status, _ = api.stop()
        h.assert_clean_exit(status, api.process)


# ---------------------------------------------------------------- 14: log lines stay JSON

def test_every_log_line_is_json_after_hostile_requests(api, operator_key):
    long_id = "r" * 100 + "-_.:" + "9" * 24
    assert len(long_id) == 128
    r = api.get("/healthz", headers={"X-Request-Id": long_id})
    assert r.headers["X-Request-Id"] == long_id
    hostile = [
        # Long paths of characters whose escapes are long, near and beyond the 8 KiB line.
        b"GET /" + b'"' * 7000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /v1/" + b"\\" * 3000 + b"%22" * 500 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /v1/users/\xff\xfe\xc3\x28" + b"\xe2\x82" * 900 + b" HTTP/1.1\r\nHost: x\r\n"
        b"Connection: close\r\n\r\n",
        b"GET /v1/\x01\x02\x7f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        # Hostile headers: request ids with quotes, controls, bytes not UTF-8, far too long.
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: \"a\\b\"\xff\x01\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + b"x" * 7000 + b"\r\n"
        b"Connection: close\r\n\r\n",
        b"GET /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \"\xff" + b"\\" * 4000 +
        b"\r\nConnection: close\r\n\r\n",
        # Not HTTP at all, and a request line CivetWeb refuses itself.
        b"\xff\xfe\"\\\x00garbage\r\n\r\n",
        b"GET " + b"/%" * 4000 + b" HTTP/9.9\r\nHost: x\r\n\r\n",
    ]
    for data in hostile:
        h.socket_exchange(api.port, data, timeout=30)
    # The last request's line proves the log reader read everything before it.
    api.get("/healthz", headers={"X-Request-Id": "after-hostile"})
    api.process.wait_for(lambda rec: rec.get("req_id") == "after-hostile", timeout=30)
    status, _ = api.stop()
    h.assert_clean_exit(status, api.process)
    lines = api.process.lines
    for line in lines:
        assert len(line.encode()) <= 8192, line[:200]
        rec = json.loads(line)
        assert isinstance(rec, dict) and rec.get("event"), line[:200]
    recs = [json.loads(line) for line in lines]
    # CivetWeb answers some of them itself (no line); the rest reached the API and were logged.
    assert len([rec for rec in recs if rec.get("event") == "http_request"]) >= 5, lines
    assert any(rec.get("req_id") == long_id for rec in recs), "the 128-character request id was cut"
    assert any(rec.get("truncated") is True and rec.get("event") == "http_request" for rec in recs)
