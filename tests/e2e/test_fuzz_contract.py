"""Schemathesis against the real `gwsync api`: every check, the stateful phase, a pinned seed.

openapi.yaml is the contract; this run fails whenever the API answers something the contract does
not allow (an undeclared status, a body or header that does not fit, a schema-valid request
refused, a schema-violating one accepted, an undeclared method not answered 405) or the contract
allows what the API refuses. Google is not reachable: its URLs point at a closed local port, so
the routes that call Google answer their documented 503 google-unreachable within a second.

What a route must declare to pass (new routes are fuzzed as soon as they are in openapi.yaml):
every status it can answer (400 for what the schema refuses, 415 where it takes a body, 422 where
it takes an Idempotency-Key, 404/409/412/422 where valid input can meet a missing, taken or
changed resource, 503 where it calls Google); every constraint it enforces as schema (patterns,
lengths, enums, required members, `additionalProperties: false`; a cursor parameter with the
pattern of its list's key); and, when it hangs below a resource created by another route, a
link from that create (`links:` on its 201/202) so the stateful phase reaches it.
"""
import json
import os
import socket
import subprocess

import requests

import gwsync_harness as h

SEED = 20261130
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


def google_unreachable_env():
    return {
        "GWSYNC_GOOGLE_API_URL": CLOSED,
        "GWSYNC_GOOGLE_TOKEN_URL": CLOSED + "/token",
        "GWSYNC_GOOGLE_ALLOW_HTTP": "true",
        "GWSYNC_GOOGLE_RETRY_MAX_ATTEMPTS": "1",
        "GWSYNC_GOOGLE_REQUEST_DEADLINE_MS": "1000",
        # The consent callback in its browser mode: every outcome is a 302 to this page.
        "GWSYNC_OAUTH_RETURN_URL": CLOSED + "/done",
        # The job types openapi.yaml lists include test_sleep, which exists in this mode.
        "GWSYNC_JOB_TEST_RUNNERS": "1",
    }


def test_schemathesis_finds_nothing(db):
    tools = h.need_env("GWSYNC_PYTOOLS")
    server = h.Api(db, **google_unreachable_env())
    key = h.create_key(db, "acme", "operator")
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        proc = subprocess.run(
            [os.path.join(tools, "bin", "st"), "--config-file", os.path.join(here, "schemathesis.toml"),
             "run", os.path.join(h.SOURCE_DIR, "openapi.yaml"), "--url", server.base,
             "--header", f"Authorization: Bearer {key}",
             "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
             "--seed", str(SEED), "--max-examples", "30", "--workers", "1", "--no-color",
             # A key that revokes itself leaves the rest of the run answering 401 (that route
             # keeps its own tests in test_foundation.py).
             "--exclude-operation-id", "revokeApiKey"],
            capture_output=True, text=True, timeout=300, cwd=here)
    finally:
        status, _ = server.stop()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-20000:]
    assert "Authentication failed" not in out, out[-4000:]
    h.assert_clean_exit(status, server.process)


def test_errors_civetweb_makes_are_problems(api):
    r = requests.request("TRACE", api.url("/healthz"), timeout=10)
    h.assert_problem(r, 405, "method-not-allowed")
    assert r.headers["Allow"] == "GET"
    # A header CivetWeb cannot parse (clients such as requests refuse to send it: raw socket).
    with socket.create_connection(("127.0.0.1", api.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nIf-Match:\x01x\r\n\r\n")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert b"Content-Type: application/problem+json" in head, answer
    assert json.loads(body)["type"] == "urn:gwsync:problem:bad-request", answer
