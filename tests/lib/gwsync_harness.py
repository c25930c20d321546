"""Shared pytest helpers: fresh databases, the real gwsync binary as a process, its log lines.

Everything talks to 127.0.0.1 only. Services come from deploy/local/services; their addresses
arrive in GWSYNC_* environment variables set by deploy/local/test (see README.md).
"""
import json
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import psycopg2
import requests

GWSYNC_BIN = os.environ.get("GWSYNC_BIN", "build/gwsync")
SOURCE_DIR = os.environ.get("GWSYNC_SOURCE_DIR", os.getcwd())


def need_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the tests through deploy/local/test")
    return value


def admin_connect():
    conn = psycopg2.connect(need_env("GWSYNC_TEST_PG_ADMIN_URL"))
    conn.autocommit = True
    return conn


def database_url(name):
    parts = urllib.parse.urlsplit(need_env("GWSYNC_TEST_PG_ADMIN_URL"))
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def create_database(template=None):
    name = "t_" + secrets.token_hex(6)
    conn = admin_connect()
    try:
        with conn.cursor() as cur:
            if template:
                cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            else:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return name


def drop_database(name):
    conn = admin_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


# A fixed sealing key for tests ("kid:base64(32 bytes)"); tests of rotation pass their own.
TEST_SECRET_KEY = "test1:" + __import__("base64").b64encode(bytes(range(32))).decode()


def sql(db_name, statement, *args):
    """Runs one statement in the test database (autocommit); returns its rows, or None."""
    conn = psycopg2.connect(database_url(db_name))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def base_env(db_name, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GWSYNC_") or k.startswith("GWSYNC_TEST_")}
    env.update({
        "GWSYNC_DATABASE_URL": database_url(db_name),
        "GWSYNC_KAFKA_BROKERS": need_env("GWSYNC_KAFKA_BROKERS"),
        "GWSYNC_LOG_LEVEL": "debug",
        "GWSYNC_SECRET_KEY": TEST_SECRET_KEY,
    })
    # Sanitizer builds: leaks and UB end the process with a non-zero status the tests check.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=66")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=67")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(args, env, timeout=60, check=True):
    proc = subprocess.run([GWSYNC_BIN, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"gwsync {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def migrate(db_name):
    return run(["migrate"], base_env(db_name))


def create_key(db_name, tenant, role):
    proc = run(["keys", "create", "--tenant", tenant, "--role", role], base_env(db_name))
    key = proc.stdout.strip()
    assert key.startswith("gwsk_") and len(key) == 48, proc.stdout
    return key


class Process:
    """A gwsync role running in the background; stdout lines are parsed as JSON log records."""

    def __init__(self, args, env, argv=None):
        """argv replaces the command line (a wrapper such as `buildah run`); args names the role."""
        self.args = args
        self.lines = []
        self.records = []
        self.stderr_text = ""
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(argv or [GWSYNC_BIN, *args], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._out.start()
        self._err.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                try:
                    self.records.append(json.loads(line))
                except ValueError:
                    self.records.append({"unparsed": line})
                self._cond.notify_all()

    def _read_stderr(self):
        chunks = []
        for line in self.proc.stderr:
            chunks.append(line)
        self.stderr_text = "".join(chunks)

    def wait_for(self, predicate, timeout=30.0, what="log record"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for rec in self.records:
                    if predicate(rec):
                        return rec
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self._out.is_alive():
                    raise AssertionError(f"no {what} within {timeout}s; exit={self.proc.poll()}\n"
                                         + "".join(self.lines[-30:]) + self.stderr_text)
                self._cond.wait(min(left, 0.2))

    def wait_event(self, event, timeout=30.0):
        return self.wait_for(lambda r: r.get("event") == event, timeout, f"event {event}")

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Sends sig and waits; returns (exit status, seconds taken)."""
        if self.proc.poll() is None:
            t0 = time.monotonic()
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"gwsync {self.args[0]} did not stop within {timeout}s")
            took = time.monotonic() - t0
        else:
            took = 0.0
        self._out.join(timeout=5)
        self._err.join(timeout=5)
        return self.proc.returncode, took

    def all_output(self):
        return "".join(self.lines) + self.stderr_text


class Api:
    """`gwsync api` on a free port, with a requests session bound to it."""

    def __init__(self, db_name, **extra_env):
        env = base_env(db_name, **{"GWSYNC_HTTP_LISTEN": "127.0.0.1:0", **extra_env})
        self.process = Process(["api"], env)
        rec = self.process.wait_event("api_listening", timeout=30)
        self.port = rec["port"]
        self.base = f"http://127.0.0.1:{self.port}"
        self.http = requests.Session()
        # With GWSYNC_HEALTH_LISTEN: the health listener's base URL (logged before api_listening).
        self.health_base = None
        if env.get("GWSYNC_HEALTH_LISTEN"):
            port = self.process.wait_event("health_listening", timeout=5)["port"]
            self.health_base = f"http://127.0.0.1:{port}"

    def url(self, path):
        return self.base + path

    def request(self, method, path, key=None, **kw):
        headers = kw.pop("headers", {})
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return self.http.request(method, self.url(path), headers=headers, timeout=30, **kw)

    def get(self, path, key=None, **kw):
        return self.request("GET", path, key, **kw)

    def post(self, path, key=None, **kw):
        return self.request("POST", path, key, **kw)

    def delete(self, path, key=None, **kw):
        return self.request("DELETE", path, key, **kw)

    def stop(self):
        self.http.close()
        status, took = self.process.stop()
        return status, took


def assert_clean_exit(status, process):
    assert status == 0, f"exit status {status}\n{process.all_output()[-4000:]}"
    assert "ERROR: AddressSanitizer" not in process.stderr_text, process.stderr_text
    assert "runtime error:" not in process.stderr_text, process.stderr_text
    assert "LeakSanitizer" not in process.stderr_text, process.stderr_text


def assert_problem(resp, status, slug=None):
    assert resp.status_code == status, f"{resp.status_code} {resp.text}"
    assert resp.headers["Content-Type"].startswith("application/problem+json"), resp.headers
    body = resp.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:gwsync:problem:")
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str)
    if slug:
        assert body["type"] == "urn:gwsync:problem:" + slug, body
    return body


def services(*args):
    """Runs deploy/local/services (stop/start kafka in readiness tests)."""
    subprocess.run([need_env("GWSYNC_TEST_SERVICES"), *args], check=True, timeout=180,
                   stdout=subprocess.DEVNULL)


_SPEC = None


def openapi_spec():
    global _SPEC
    if _SPEC is None:
        import yaml
        with open(os.path.join(SOURCE_DIR, "openapi.yaml"), encoding="utf-8") as f:
            _SPEC = yaml.safe_load(f)
    return _SPEC


def assert_schema(instance, schema_name):
    """Validates a response body against components.schemas[schema_name] of openapi.yaml."""
    import jsonschema
    spec = openapi_spec()
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    jsonschema.Draft202012Validator(root).validate(instance)
    return instance


def socket_exchange(port, data, trickle=b"", every=0.0, half_close=False, timeout=60):
    """Sends data, then trickle a byte at a time, and reads the answer until the server closes.
    A socket timeout (the server holding on to an unfinished request) fails the test."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        for i in range(len(trickle)):
            time.sleep(every)
            try:
                s.sendall(trickle[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
        if half_close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)
