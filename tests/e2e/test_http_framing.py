"""How the API reads a request's body (an outside tester's report): a body shorter than its
Content-Length is never handled (408 when it stops coming, 400 when the client cuts it off), the
body has one deadline however it trickles in, a head whose body cannot be framed for sure
(RFC 9112 §6.1, §6.3) is 400, and a Content-Length above the limit is 413 from the head."""
import json

import requests

import gwsync_harness as h


def problem(answer, status, slug):
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer[:400]
    lower = head.lower()
    assert b"content-type: application/problem+json" in lower, head
    assert b"connection: close" in lower, head
    doc = json.loads(body)
    assert doc["status"] == status and doc["type"] == "urn:gwsync:problem:" + slug, doc
    return doc


def request(method, path, key, headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {key}",
             "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def job_title(api, key, uid="u031"):
    # A connection of its own: with a 1-s request timeout the server may close a pooled one while
    # it idles between the raw exchanges, and a reused closed connection fails the read.
    r = requests.get(api.url(f"/v1/users/{uid}"), timeout=30,
                     headers={"Authorization": f"Bearer {key}", "Connection": "close"})
    assert r.status_code == 200, r.text
    return r.json().get("job_title")


def with_api(db, timeout_ms, test):
    api = h.Api(db, GWSYNC_HTTP_REQUEST_TIMEOUT_MS=timeout_ms)
    try:
        editor = h.create_key(db, "acme", "editor")
        r = api.request("PUT", "/v1/users/u031", key=editor,
                        json={"email": "u031@example.com", "first_name": "Ada",
                              "last_name": "Lovelace", "job_title": "kept"})
        assert r.status_code == 201, r.text
        test(api, editor)
    finally:
        status, _ = api.stop()
        h.assert_clean_exit(status, api.process)


CUT = b'{"job_title":"truncated"}'  # 25 bytes


def test_a_body_shorter_than_its_content_length_is_never_handled(db):
    def test(api, editor):
        # The body stops coming: 408 once the request timeout has passed, nothing changed.
        answer = h.socket_exchange(api.port, request("PATCH", "/v1/users/u031", editor,
                                            ["Content-Length: 100"], CUT))
        assert "1000 ms" in problem(answer, 408, "request-timeout")["detail"]
        assert job_title(api, editor) == "kept"
        # The client cuts it off (closes its side): 400, nothing changed.
        answer = h.socket_exchange(api.port, request("PATCH", "/v1/users/u031", editor,
                                            ["Content-Length: 100"], CUT), half_close=True)
        problem(answer, 400, "bad-request")
        assert job_title(api, editor) == "kept"
        # One deadline for the whole body, not one per read: a body that keeps trickling in
        # but is not whole when the request timeout has passed is refused all the same.
        padded = CUT[:-1] + b" " * 15 + b"}"
        answer = h.socket_exchange(api.port, request("PATCH", "/v1/users/u031", editor,
                                            [f"Content-Length: {len(padded)}"], padded[:20]),
                          trickle=padded[20:], every=0.15)
        problem(answer, 408, "request-timeout")
        assert job_title(api, editor) == "kept"
        # Chunked the same: a cut chunked body is never handled, a whole one is.
        chunked = b"%x\r\n%s\r\n" % (len(CUT), CUT)
        answer = h.socket_exchange(api.port, request("PATCH", "/v1/users/u031", editor,
                                            ["Transfer-Encoding: chunked"], chunked))
        assert answer.startswith((b"HTTP/1.1 408 ", b"HTTP/1.1 400 ")), answer[:300]
        assert job_title(api, editor) == "kept"
        answer = h.socket_exchange(api.port, request("PATCH", "/v1/users/u031", editor,
                                            ["Transfer-Encoding: chunked", "Connection: close"],
                                            chunked + b"0\r\n\r\n"))
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
        assert job_title(api, editor) == "truncated"

    with_api(db, 1000, test)


def test_a_body_that_cannot_be_framed_for_sure_is_refused(db):
    def test(api, editor):
        body = b'{"job_title":"smuggled"}'
        for headers in (["Content-Length: 71", f"Content-Length: {len(body)}"],
                        [f"Content-Length: {len(body)}", "Content-Length: 5"],
                        [f"Content-Length: {len(body)}abc"],
                        [f"Content-Length: +{len(body)}"],
                        [f"Content-Length: {len(body)}", "Transfer-Encoding: chunked"],
                        ["Transfer-Encoding: chunked", f"Content-Length: {len(body)}"],
                        ["Transfer-Encoding: gzip"],
                        ["Transfer-Encoding: gzip, chunked"]):
            answer = h.socket_exchange(api.port, request("PATCH", "/v1/users/u031", editor, headers, body))
            assert status_of(answer) == 400, (headers, answer[:400])
            problem(answer, 400, "bad-request")
            assert job_title(api, editor) == "kept", headers
        # The same length twice frames the body one way only: accepted.
        n = len(body)
        answer = h.socket_exchange(api.port, request("PATCH", "/v1/users/u031", editor,
                                            [f"Content-Length: {n}", f"Content-Length: {n}",
                                             "Connection: close"], body))
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
        assert job_title(api, editor) == "smuggled"

    with_api(db, 1000, test)


def status_of(answer):
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def test_a_content_length_above_the_limit_is_413_from_the_head(db):
    """The request timeout is long here: an answer that waited for the announced body would not
    come before the client's socket timeout, which fails the test."""
    def test(api, editor):
        answer = h.socket_exchange(api.port, request("PATCH", "/v1/users/u031", editor,
                                            ["Content-Length: 2000000"], b"{}"), timeout=20)
        assert "1048576 bytes" in problem(answer, 413, "payload-too-large")["detail"]
        assert job_title(api, editor) == "kept"

    with_api(db, 120000, test)


# ---------------------------------------------------------------- the smaller findings

def only_error(r, pointer, detail):
    errs = h.assert_problem(r, 400, "validation")["errors"]
    assert errs == [{"pointer": pointer, "detail": detail}], errs


def test_query_parameters_are_given_once_non_empty_and_limits_are_digits(api, db):
    editor = h.create_key(db, "acme", "editor")
    get = lambda query: api.get("/v1/users?" + query, key=editor)
    only_error(get("limit=5&limit=6"), "/query/limit", "is repeated; send it once")
    only_error(get("email=a%40example.com&state=active&email=b%40example.com"), "/query/email",
               "is repeated; send it once")
    only_error(api.get("/v1/integrations?cursor=a&cursor=b", key=editor), "/query/cursor",
               "is repeated; send it once")
    for limit in ("%2B5", "+5", "%20%205", "5%20", "-5", "0", "101", "5.0", "0x5", "1000"):
        only_error(get("limit=" + limit), "/query/limit", "must be an integer from 1 to 100")
    for query in ("email=", "email", "state=", "limit="):
        name = query.split("=")[0]
        only_error(get(query), "/query/" + name, "must not be empty")
    for limit in ("5", "05", "100"):
        assert get("limit=" + limit).status_code == 200, limit


def test_bodies_are_json_objects_and_routes_without_a_body_refuse_one(api, db):
    editor = h.create_key(db, "acme", "editor")
    r = api.request("PUT", "/v1/users/u1", key=editor,
                    json={"email": "u1@example.com", "first_name": "A", "last_name": "B"})
    assert r.status_code == 201, r.text
    for text in ("null", "5", "true", '"x"', "[]"):
        r = api.request("PATCH", "/v1/users/u1", key=editor, data=text,
                        headers={"Content-Type": "application/json"})
        assert h.assert_problem(r, 400, "malformed-json")["detail"] == \
            "the body must be a JSON object", text
    body = b'{"job_title":"x"}'
    for ctype in (None, "text/plain", "application/json; charset=latin-1",
                  'application/json; charset="iso-8859-1"', "application/jsonx"):
        headers = {"Content-Type": ctype} if ctype else {}
        for method, path in (("PATCH", "/v1/users/u1"), ("POST", "/v1/jobs/j1/cancel"),
                             ("DELETE", "/v1/users/u1")):
            r = api.request(method, path, key=editor, data=body, headers=headers)
            h.assert_problem(r, 415, "unsupported-media-type")
    assert api.get("/v1/users/u1", key=editor).json()["job_title"] is None
    for ctype in ("application/json; charset=utf-8", 'application/json;charset="UTF-8"',
                  "application/merge-patch+json"):
        r = api.request("PATCH", "/v1/users/u1", key=editor, data=body,
                        headers={"Content-Type": ctype})
        assert r.status_code == 200, (ctype, r.text)
    # A route that takes no body refuses one, whatever it says; none, a blank one or {} is fine.
    assert api.request("PUT", "/v1/groups/g1", key=editor, json={"name": "G"}).status_code == 201
    r = api.request("PUT", "/v1/groups/g1/members/u1", key=editor, json={"role": "OWNER"})
    assert h.assert_problem(r, 400, "validation")["detail"] == "this request takes no body"
    r = api.request("DELETE", "/v1/users/u1", key=editor, json={"really": True})
    assert h.assert_problem(r, 400, "validation")["detail"] == "this request takes no body"
    assert api.get("/v1/groups/g1/members", key=editor).json()["items"] == []
    r = api.request("PUT", "/v1/groups/g1/members/u1", key=editor, json={})
    assert r.status_code == 201, r.text


def test_headers_are_named_alike_and_assigned_fields_are_read_only(api, db):
    editor = h.create_key(db, "acme", "editor")
    r = api.post("/v1/integrations", key=editor, json={"name": "x"},
                 headers={"Idempotency-Key": "a b"})
    only_error(r, "/header/Idempotency-Key", "must be 1 to 255 visible ASCII characters")
    r = api.request("PATCH", "/v1/users/nobody", key=editor, json={}, headers={"If-Match": "x"})
    assert h.assert_problem(r, 400)["errors"][0]["pointer"] == "/header/If-Match"
    r = api.post("/v1/integrations", key=editor, json={"name": "Main"})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    r = api.request("PATCH", f"/v1/integrations/{iid}", key=editor, json={"id": "other"})
    only_error(r, "/id", "is read-only")
    r = api.post("/v1/integrations", key=editor, json={"name": "Other", "created_at": "x"})
    only_error(r, "/created_at", "is read-only")
