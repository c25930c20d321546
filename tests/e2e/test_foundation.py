"""End to end through the real binary: health, readiness, errors, authentication, isolation."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import gwsync_harness as h


def test_healthz_and_readyz(api):
    r = api.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = api.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert {k: v["status"] for k, v in body["checks"].items()} == {
        "database": "up", "migrations": "up", "kafka": "up"}


def test_request_id_echoed_generated_and_logged(api):
    r = api.get("/healthz", headers={"X-Request-Id": "trace-abc.123"})
    assert r.headers["X-Request-Id"] == "trace-abc.123"
    api.process.wait_for(lambda rec: rec.get("event") == "http_request"
                         and rec.get("req_id") == "trace-abc.123" and rec.get("status") == 200)
    r = api.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    generated = r.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    r2 = api.get("/healthz")
    assert r2.headers["X-Request-Id"] != generated


def test_log_lines_are_json_with_context(api, operator_key):
    api.get("/v1/tenants", key=operator_key, headers={"X-Request-Id": "ctx-check"})
    rec = api.process.wait_for(lambda r: r.get("req_id") == "ctx-check" and r.get("event") == "http_request")
    for field in ("ts", "level", "role", "mod", "event", "method", "path", "status", "dur_us", "tenant"):
        assert field in rec, rec
    assert rec["role"] == "api"
    for line in api.process.lines:
        json.loads(line)


def test_unknown_route_and_method(api):
    body = h.assert_problem(api.get("/v1/nothing-here"), 404, "not-found")
    assert "/v1/nothing-here" in body["detail"]
    r = api.request("DELETE", "/healthz")
    h.assert_problem(r, 405, "method-not-allowed")
    assert r.headers["Allow"] == "GET"


def test_authentication_and_roles(api, db):
    r = api.get("/v1/tenants")
    h.assert_problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    h.assert_problem(api.get("/v1/tenants", key="not-a-key"), 401, "unauthorized")
    h.assert_problem(api.get("/v1/tenants", key="gwsk_" + "A" * 43), 401, "unauthorized")
    h.assert_problem(api.get("/v1/tenants", headers={"Authorization": "Basic abc"}), 401)

    reader = h.create_key(db, "acme", "reader")
    editor = h.create_key(db, "acme", "editor")
    operator = h.create_key(db, "acme", "operator")
    assert api.get("/v1/api-keys", key=reader).status_code == 200
    body = h.assert_problem(api.get("/v1/tenants", key=reader), 403, "forbidden")
    assert "operator" in body["detail"]
    h.assert_problem(api.post("/v1/tenants", key=editor, json={"name": "x"}), 403, "forbidden")
    assert api.get("/v1/tenants", key=operator).status_code == 200


def test_revoked_key_is_refused(api, db):
    operator = h.create_key(db, "acme", "operator")
    reader = h.create_key(db, "acme", "reader")
    keys = api.get("/v1/api-keys", key=operator).json()["items"]
    reader_id = next(k["id"] for k in keys if k["role"] == "reader")
    assert api.delete(f"/v1/api-keys/{reader_id}", key=operator).status_code == 204
    h.assert_problem(api.get("/v1/api-keys", key=reader), 401)
    h.assert_problem(api.delete(f"/v1/api-keys/{reader_id}", key=operator), 404)


def test_tenant_create_get_and_conflict(api, operator_key):
    r = api.post("/v1/tenants", key=operator_key, json={"name": "Globex Corp"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert set(t) == {"id", "name", "created_at"}
    assert t["name"] == "Globex Corp"
    assert r.headers["Location"] == f"/v1/tenants/{t['id']}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t["created_at"])
    assert api.get(f"/v1/tenants/{t['id']}", key=operator_key).json() == t
    h.assert_problem(api.post("/v1/tenants", key=operator_key, json={"name": "GLOBEX corp"}), 409, "conflict")
    h.assert_problem(api.get("/v1/tenants/00000000-0000-0000-0000-000000000000", key=operator_key), 404)
    h.assert_problem(api.get("/v1/tenants/not-a-uuid", key=operator_key), 404)


def test_tenant_validation_names_each_field(api, operator_key):
    cases = [
        ({}, "/name", "is required"),
        ({"name": 5}, "/name", "must be a string"),
        ({"name": ""}, "/name", "must not be empty"),
        ({"name": "   \u00a0 "}, "/name", "must not be only white space"),
        ({"name": "bad\u0007name"}, "/name", "must not contain control characters"),
        ({"name": "x" * 256}, "/name", "must be at most 255 characters"),
        ({"name": "ok", "colour": "red"}, "/colour", "unknown field"),
    ]
    for body, pointer, detail in cases:
        r = api.post("/v1/tenants", key=operator_key, json=body)
        problem = h.assert_problem(r, 400, "validation")
        assert {"pointer": pointer, "detail": detail} in problem["errors"], (body, problem)
    assert api.post("/v1/tenants", key=operator_key, json={"name": "é" * 255}).status_code == 201
    # Nothing else was created by the refused requests.
    names = [t["name"] for t in api.get("/v1/tenants?limit=100", key=operator_key).json()["items"]]
    assert sorted(names) == sorted(["acme", "é" * 255])


def test_malformed_json_reports_position(api, operator_key):
    r = api.post("/v1/tenants", key=operator_key, data=b'{"name": "x",, }',
                 headers={"Content-Type": "application/json"})
    body = h.assert_problem(r, 400, "malformed-json")
    assert "at byte 13" in body["detail"], body
    r = api.post("/v1/tenants", key=operator_key, data=b'{"name": "x"',
                 headers={"Content-Type": "application/json"})
    assert "byte 12" in h.assert_problem(r, 400, "malformed-json")["detail"]
    r = api.post("/v1/tenants", key=operator_key, data=b'{"name": "x"} trailing',
                 headers={"Content-Type": "application/json"})
    h.assert_problem(r, 400, "malformed-json")
    r = api.post("/v1/tenants", key=operator_key, data=b'["name"]',
                 headers={"Content-Type": "application/json"})
    h.assert_problem(r, 400, "malformed-json")
    deep = b'{"name":' + b'[' * 40 + b']' * 40 + b'}'
    r = api.post("/v1/tenants", key=operator_key, data=deep, headers={"Content-Type": "application/json"})
    assert "nesting" in h.assert_problem(r, 400, "malformed-json")["detail"]
    r = api.post("/v1/tenants", key=operator_key, data=b'name=x',
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    h.assert_problem(r, 415, "unsupported-media-type")


def test_oversized_body_is_413_and_changes_nothing(api, operator_key):
    big = json.dumps({"name": "y" * (1024 * 1024)}).encode()
    r = api.post("/v1/tenants", key=operator_key, data=big, headers={"Content-Type": "application/json"})
    h.assert_problem(r, 413, "payload-too-large")
    # Chunked bodies are limited as well.
    def chunks():
        for _ in range(17):
            yield b"x" * 65536
    r = api.post("/v1/tenants", key=operator_key, data=chunks(), headers={"Content-Type": "application/json"})
    h.assert_problem(r, 413, "payload-too-large")
    items = api.get("/v1/tenants", key=operator_key).json()["items"]
    assert [t["name"] for t in items] == ["acme"]


def test_tenant_isolation(api, db):
    key_a = h.create_key(db, "tenant-a", "operator")
    key_b = h.create_key(db, "tenant-b", "operator")
    h.create_key(db, "tenant-b", "reader")
    keys_a = api.get("/v1/api-keys", key=key_a).json()["items"]
    keys_b = api.get("/v1/api-keys", key=key_b).json()["items"]
    assert len(keys_a) == 1 and len(keys_b) == 2
    ids_a = {k["id"] for k in keys_a}
    tenants_a = {k["tenant_id"] for k in keys_a}
    assert not ids_a & {k["id"] for k in keys_b}
    assert len(tenants_a) == 1 and tenants_a.isdisjoint({k["tenant_id"] for k in keys_b})
    # A cannot revoke B's key: it does not exist as far as A can tell, and it keeps working.
    for k in keys_b:
        h.assert_problem(api.delete(f"/v1/api-keys/{k['id']}", key=key_a), 404)
    assert api.get("/v1/api-keys", key=key_b).status_code == 200
    # A cursor naming B's key does not reveal B's rows either.
    cursor_b = api.get("/v1/api-keys?limit=1", key=key_b).json()["next_cursor"]
    r = api.get(f"/v1/api-keys?cursor={cursor_b}", key=key_a)
    assert r.status_code == 200
    assert all(k["tenant_id"] in tenants_a for k in r.json()["items"])


def test_key_creation_by_operator_and_secret_never_logged(api, db, operator_key):
    tid = api.post("/v1/tenants", key=operator_key, json={"name": "Initech"}).json()["id"]
    r = api.post(f"/v1/tenants/{tid}/api-keys", key=operator_key, json={"role": "editor"})
    assert r.status_code == 201, r.text
    created = r.json()
    new_key = created["key"]
    assert created["role"] == "editor" and created["tenant_id"] == tid
    assert new_key.startswith(created["prefix"])
    listed = api.get("/v1/api-keys", key=new_key).json()["items"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    problem = h.assert_problem(api.post(f"/v1/tenants/{tid}/api-keys", key=operator_key,
                                        json={"role": "root"}), 400, "validation")
    assert problem["errors"] == [{"pointer": "/role", "detail": "must be one of reader, editor, operator"}]
    time.sleep(0.2)
    text = api.process.all_output()
    for secret in (new_key, operator_key, new_key[12:], operator_key[12:]):
        assert secret not in text
    import psycopg2
    conn = psycopg2.connect(h.database_url(db))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT string_agg(t::text, ' ') FROM api_keys t")
            dump = cur.fetchone()[0]
    finally:
        conn.close()
    assert new_key not in dump and new_key[5:] not in dump


def test_pagination_across_pages(api, operator_key):
    for i in range(24):
        assert api.post("/v1/tenants", key=operator_key, json={"name": f"t{i:02d}"}).status_code == 201
    seen, cursor, pages = [], None, 0
    while True:
        path = "/v1/tenants?limit=10" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(path, key=operator_key).json()
        pages += 1
        seen += [t["id"] for t in body["items"]]
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert pages == 3 and len(seen) == 25 and len(set(seen)) == 25
    assert api.get("/v1/tenants", key=operator_key).json().get("next_cursor")
    assert len(api.get("/v1/tenants", key=operator_key).json()["items"]) == 20
    for bad in ("limit=0", "limit=101", "limit=x", "cursor=zzz", "cursor=Y3I6bm9wZQ"):
        h.assert_problem(api.get(f"/v1/tenants?{bad}", key=operator_key), 400, "validation")


def test_metrics_exposition(api, operator_key):
    api.get("/healthz")
    api.get("/v1/tenants", key=operator_key)
    api.get("/nowhere")
    text = api.get("/metrics").text
    assert 'gwsync_build_info{version="' in text
    assert 'gwsync_http_requests_total{route="GET /healthz",status="200"}' in text
    assert 'gwsync_http_requests_total{route="GET /v1/tenants",status="200"} 1' in text
    assert 'gwsync_http_requests_total{route="unmatched",status="404"} 1' in text
    assert 'gwsync_http_request_duration_seconds_bucket{route="GET /healthz",le="+Inf"}' in text
    assert re.search(r'gwsync_db_pool_connections\{state="open"\} [1-9]', text)
    assert "gwsync_kafka_producer_queue_messages 0" in text
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r'[a-z_]+(\{[^}]*\})? [0-9.e+-]+', line), line


def test_readiness_names_missing_migrations(db):
    empty = h.create_database()
    server = h.Api(empty)
    try:
        body = h.assert_problem(server.get("/readyz"), 503, "not-ready")
        assert body["checks"]["migrations"]["status"] == "down"
        assert body["checks"]["database"]["status"] == "up"
        assert "migrations" in body["detail"]
        h.migrate(empty)
        assert server.get("/readyz").status_code == 200
    finally:
        status, _ = server.stop()
        h.drop_database(empty)
    h.assert_clean_exit(status, server.process)


def test_readiness_when_database_unreachable(db):
    server = h.Api(db, GWSYNC_DATABASE_URL="postgresql://postgres@127.0.0.1:1/none",
                   GWSYNC_DB_CONNECT_TIMEOUT_S=2)
    try:
        t0 = time.monotonic()
        body = h.assert_problem(server.get("/readyz"), 503, "not-ready")
        assert time.monotonic() - t0 < 8
        assert body["checks"]["database"]["status"] == "down"
        assert "127.0.0.1:1" not in json.dumps(body)
        h.assert_problem(server.get("/v1/tenants", key="gwsk_" + "B" * 43), 503, "unavailable")
    finally:
        status, _ = server.stop()
    h.assert_clean_exit(status, server.process)


def test_sigterm_stops_api_within_bound(db):
    server = h.Api(db, GWSYNC_SHUTDOWN_TIMEOUT_S=10)
    assert server.get("/healthz").status_code == 200
    status, took = server.stop()
    h.assert_clean_exit(status, server.process)
    assert took < 10
    server.process.wait_event("stopped", timeout=1)


def test_sigint_stops_api(db):
    server = h.Api(db)
    status, _ = server.process.stop(sig=signal.SIGINT)
    h.assert_clean_exit(status, server.process)


def test_in_flight_request_finishes_during_shutdown(db, operator_key):
    """A request whose body is still arriving when SIGTERM lands is answered, not cut off."""
    import socket
    server = h.Api(db, GWSYNC_SHUTDOWN_TIMEOUT_S=15)
    body = json.dumps({"name": "late-arrival"}).encode()
    head = (f"POST /v1/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {operator_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    s.sendall(head + body[:5])
    time.sleep(0.5)
    server.process.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    s.sendall(body[5:])
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 201"), data[:200]
    status, _ = server.process.stop()
    h.assert_clean_exit(status, server.process)


def test_worker_consumes_and_stops_cleanly(db):
    env = h.base_env(db, GWSYNC_KAFKA_GROUP="gwsync-test-" + os.urandom(4).hex(),
                     GWSYNC_SHUTDOWN_TIMEOUT_S=20)
    worker = h.Process(["worker"], env)
    try:
        worker.wait_event("worker_started")
        marker = "probe-" + os.urandom(4).hex()
        # Produce until the worker has joined the group and reports the message.
        deadline = time.monotonic() + 60
        while True:
            subprocess.run(["kcat", "-P", "-b", os.environ["GWSYNC_KAFKA_BROKERS"], "-t", "gwsync.jobs",
                            "-k", "integration-1"], input=marker.encode(), check=True, timeout=30)
            try:
                # The topic carries real announcements too: look for the probe's size.
                rec = worker.wait_for(lambda r: r.get("event") == "message_received"
                                      and r.get("topic") == "gwsync.jobs"
                                      and r.get("bytes") == len(marker), timeout=5)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        assert rec["bytes"] == len(marker)
    finally:
        status, took = worker.stop(timeout=30)
    h.assert_clean_exit(status, worker)
    assert took < 20
    worker.wait_event("stopped", timeout=1)


def worker_with_health(db):
    """`gwsync worker` with its health listener on a free port; returns (process, base URL)."""
    env = h.base_env(db, GWSYNC_KAFKA_GROUP="gwsync-test-" + os.urandom(4).hex(),
                     GWSYNC_HEALTH_LISTEN="127.0.0.1:0")
    worker = h.Process(["worker"], env)
    port = worker.wait_event("health_listening")["port"]
    worker.wait_event("worker_started")
    return worker, f"http://127.0.0.1:{port}"


def test_readiness_names_kafka_degraded_and_the_worker_not_ready(db):
    """The API takes work while Kafka is away (the outbox holds it): /readyz stays 200 and names
    Kafka degraded. The worker cannot work without its consumer: its /readyz answers 503."""
    import requests
    api = h.Api(db, GWSYNC_HEALTH_LISTEN="127.0.0.1:0")
    worker, wbase = worker_with_health(db)
    try:
        assert api.get("/readyz").json()["status"] == "ready"
        assert requests.get(wbase + "/readyz", timeout=10).status_code == 200
        h.services("stop", "kafka")
        try:
            deadline = time.monotonic() + 30
            while True:
                r = requests.get(api.health_base + "/readyz", timeout=10)
                assert r.status_code == 200, r.text
                if r.json()["status"] == "degraded":
                    break
                assert time.monotonic() < deadline, "readiness never named Kafka with Kafka stopped"
                time.sleep(0.5)
            body = r.json()
            assert body["checks"]["kafka"]["status"] == "degraded", body
            assert body["checks"]["database"]["status"] == "up"
            assert body["checks"]["migrations"]["status"] == "up"
            # the main listener says the same, and the API still takes work
            assert api.get("/readyz").json()["checks"]["kafka"]["status"] == "degraded"
            key = h.create_key(db, "acme", "editor")
            assert api.post("/v1/integrations", key=key, json={"name": "During the outage"}).status_code == 201
            while True:
                r = requests.get(wbase + "/readyz", timeout=10)
                if r.status_code == 503:
                    break
                assert time.monotonic() < deadline + 30, "the worker stayed ready with Kafka stopped"
                time.sleep(0.5)
            body = h.assert_problem(r, 503, "not-ready")
            assert body["checks"]["kafka"]["status"] == "down" and body["checks"]["database"]["status"] == "up"
            assert requests.get(wbase + "/healthz", timeout=10).status_code == 200
        finally:
            h.services("start", "kafka")
        deadline = time.monotonic() + 60
        while (api.get("/readyz").json()["status"] != "ready"
               or requests.get(wbase + "/readyz", timeout=10).status_code != 200):
            assert time.monotonic() < deadline, "readiness did not recover after Kafka returned"
            time.sleep(0.5)
    finally:
        wstatus, _ = worker.stop()
        astatus, _ = api.stop()
    h.assert_clean_exit(wstatus, worker)
    h.assert_clean_exit(astatus, api.process)


def test_worker_health_listener_serves_health_and_metrics_only(db):
    import requests
    worker, base = worker_with_health(db)
    try:
        r = requests.get(base + "/healthz", timeout=10)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        r = requests.get(base + "/readyz", timeout=10)
        assert r.status_code == 200, r.text
        assert {k: v["status"] for k, v in r.json()["checks"].items()} == {
            "database": "up", "migrations": "up", "kafka": "up"}
        text = requests.get(base + "/metrics", timeout=10).text
        for name in ("gwsync_build_info", "gwsync_worker_jobs_running 0", "gwsync_worker_concurrency 4",
                     'gwsync_kafka_consumer_lag{topic="gwsync.jobs"}', "gwsync_google_calls_total",
                     "gwsync_db_pool_connections"):
            assert name in text, name
        # the API's figures are the API's: not repeated by every worker
        assert "gwsync_outbox_backlog_rows" not in text and "gwsync_kafka_producer" not in text
        # nothing but the three routes
        assert h.assert_problem(requests.get(base + "/v1/tenants", timeout=10), 404, "not-found")
        assert requests.post(base + "/healthz", timeout=10).status_code == 405
    finally:
        status, took = worker.stop()
    h.assert_clean_exit(status, worker)
    assert took < 20


def test_health_listener_answers_while_slow_clients_hold_every_api_thread(db):
    """2 x GWSYNC_HTTP_THREADS connections send a request line and one header, then nothing: every
    API thread waits on them until the request timeout. The health listener still answers."""
    import requests
    threads = 4
    api = h.Api(db, GWSYNC_HTTP_THREADS=threads, GWSYNC_HEALTH_LISTEN="127.0.0.1:0",
                GWSYNC_HTTP_REQUEST_TIMEOUT_MS=20000)
    slow = []
    try:
        for _ in range(2 * threads):
            s = socket.create_connection(("127.0.0.1", api.port), timeout=30)
            s.sendall(b"GET /v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(s)
        # The API's own threads are all taken: a request there waits behind the slow clients.
        try:
            r = requests.get(api.url("/healthz"), timeout=2)
            starved = False
        except requests.exceptions.Timeout:
            starved = True
        assert starved, "the slow clients did not hold the API's threads; the test proves nothing"
        # Answered well before the slow clients' 20-s timeout frees a thread.
        for path in ("/healthz", "/readyz", "/metrics"):
            r = requests.get(api.health_base + path, timeout=10)
            assert r.status_code == 200, (path, r.text)
        assert r.text.startswith("# HELP")
        assert requests.get(api.health_base + "/readyz", timeout=10).json()["status"] == "ready"
    finally:
        for s in slow:
            s.close()
        status, _ = api.stop()
    h.assert_clean_exit(status, api.process)


def test_slow_clients_lose_their_connection_after_the_request_timeout(db):
    """A request head that never ends is answered 408 request-timeout (a problem, as every error)
    when the request timeout runs out, and the connection is closed; a malformed head is still 400.
    On a kept-alive connection the next head has the keep-alive timeout (5 s)."""
    api = h.Api(db, GWSYNC_HTTP_REQUEST_TIMEOUT_MS=500)

    def answer(s):
        s.settimeout(15)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return data

    def problem(data, status):
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d " % status), data[:300]
        assert b"Content-Type: application/problem+json" in head, head
        return json.loads(body)

    try:
        s = socket.create_connection(("127.0.0.1", api.port), timeout=30)
        s.sendall(b"GET /v1/tenants HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        body = problem(answer(s), 408)
        assert body["type"] == "urn:gwsync:problem:request-timeout" and body["status"] == 408, body
        assert "500 ms" in body["detail"], body
        # a head that is malformed, not slow
        s = socket.create_connection(("127.0.0.1", api.port), timeout=30)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\x01: x\r\n\r\n")
        assert problem(answer(s), 400)["type"] == "urn:gwsync:problem:bad-request"
        # the second head of a kept-alive connection
        s = socket.create_connection(("127.0.0.1", api.port), timeout=30)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 "), first[:200]
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        data = answer(s)
        if data.startswith(b"HTTP/1.1 200 "):  # the rest of the first answer came late
            data = data[data.index(b"}") + 1:]
        body = problem(data, 408)
        assert "5000 ms" in body["detail"], body
        assert api.get("/healthz").status_code == 200
        api.process.wait_for(lambda r: r.get("event") == "http_request" and r.get("status") == 408,
                             what="the 408 logged")
    finally:
        status, _ = api.stop()
    h.assert_clean_exit(status, api.process)


def test_requests_share_a_small_pool_in_turn(db, operator_key):
    """Many concurrent requests over one database connection all get answered (FIFO hand-over)."""
    from concurrent.futures import ThreadPoolExecutor
    import requests as rq
    server = h.Api(db, GWSYNC_DB_POOL_SIZE=1, GWSYNC_AUTH_CACHE_TTL_MS=0)
    try:
        def one(i):
            r = rq.get(server.url("/v1/tenants"), headers={"Authorization": f"Bearer {operator_key}"}, timeout=30)
            return r.status_code
        with ThreadPoolExecutor(max_workers=24) as pool:
            codes = list(pool.map(one, range(200)))
        assert codes == [200] * 200
        text = server.get("/metrics").text
        assert 'gwsync_db_pool_connections{state="max"} 1' in text
        waits = int(re.search(r"gwsync_db_pool_waits_total (\d+)", text).group(1))
        assert waits > 0, "the test did not make requests wait for the connection"
    finally:
        status, _ = server.stop()
    h.assert_clean_exit(status, server.process)
