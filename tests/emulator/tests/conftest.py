"""Fixtures for black-box tests of gws-emulator: one emulator process per module, reset per test."""
import base64
import json
import os
import pathlib
import signal
import subprocess
import tempfile
import time

import pytest
import requests

BIN = os.environ.get("GWS_EMULATOR_BIN", "")
SRC = os.environ.get("GWSYNC_SOURCE_DIR", "")
SCOPE = "https://www.googleapis.com/auth/"
DIR = "/admin/directory/v1"


def google_fixtures():
    """Google's discovery documents and notes, kept in the repository (tests/fixtures/google)."""
    return pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "google"


class Emulator:
    def __init__(self, *args):
        assert BIN and os.path.exists(BIN), "GWS_EMULATOR_BIN must point at the built emulator"
        self.errf = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([BIN, "--listen", "127.0.0.1:0", *args],
                                     stdout=subprocess.PIPE, stderr=self.errf, text=True)
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.stderr()
        self.http = requests.Session()
        self.tok = None

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read().decode(errors="replace")

    def stop(self):
        """SIGTERM by pid; the process must exit 0 (sanitizer reports make it non-zero)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        rc = self.proc.returncode
        err = self.stderr()
        self.errf.close()
        return rc, err

    # control API
    def ctl(self, method, path, body=None, expect=200):
        r = self.http.request(method, self.url + "/_emulator/" + path,
                              data=None if body is None else json.dumps(body))
        assert r.status_code == expect, r.text
        return r.json()

    def reset(self):
        self.ctl("POST", "reset", {})
        self.tok = self.token()

    def token(self, subject="admin@example.com", scopes=None, **kw):
        body = {"subject": subject, **kw}
        if scopes is not None:
            body["scopes"] = [s if s.startswith("http") else SCOPE + s for s in scopes]
        return self.ctl("POST", "tokens", body)["access_token"]

    # API calls
    def call(self, method, path, body=None, token=None, params=None, raw=None, headers=None):
        h = {"Authorization": "Bearer " + (token or self.tok)}
        if headers:
            h.update(headers)
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        if data is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/json"
        return self.http.request(method, self.url + path, data=data, params=params, headers=h)

    def new_user(self, email, given="Ann", family="Lee", **extra):
        body = {"primaryEmail": email, "name": {"givenName": given, "familyName": family},
                "password": "correct-horse-9", **extra}
        r = self.call("POST", DIR + "/users", body)
        assert r.status_code == 200, r.text
        return r.json()

    def new_group(self, email, **extra):
        r = self.call("POST", DIR + "/groups", {"email": email, **extra})
        assert r.status_code == 200, r.text
        return r.json()


def gerr(r, status, reason, message=None):
    """Asserts a Google error body: status, errors[0].reason, and message (exact when given)."""
    assert r.status_code == status, (r.status_code, r.text)
    e = r.json()["error"]
    assert e["code"] == status
    assert e["errors"][0]["reason"] == reason, r.text
    assert e["message"] == e["errors"][0]["message"] or "status" in e
    if message is not None:
        assert message in (e["message"], e["errors"][0]["message"]), r.text
    return e


@pytest.fixture(scope="module")
def emu_proc():
    e = Emulator()
    yield e
    rc, err = e.stop()
    assert rc == 0, err


@pytest.fixture
def emu(emu_proc):
    emu_proc.reset()
    return emu_proc


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(key, claims, header=None):
    """RS256 JWT from a Google JSON key (dict)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    hdr = header or {"alg": "RS256", "typ": "JWT", "kid": key["private_key_id"]}
    signing_input = (b64u(json.dumps(hdr).encode()) + "." +
                     b64u(json.dumps(claims).encode())).encode()
    pk = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
    sig = pk.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode() + "." + b64u(sig)


def claims(key, sub="admin@example.com", scope=SCOPE + "admin.directory.user", **over):
    now = int(time.time())
    c = {"iss": key["client_email"], "scope": scope, "aud": "https://oauth2.googleapis.com/token",
         "iat": now, "exp": now + 3600}
    if sub is not None:
        c["sub"] = sub
    c.update(over)
    return c
