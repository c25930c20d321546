"""The container images, built for real from deploy/docker/Dockerfile by deploy/docker/build (buildah,
base images made with mmdebstrap), then smoke-tested with `buildah run` on the host network against
the suite's PostgreSQL and Kafka and the emulator image: version, migrate, api answering /readyz on
its health listener, a worker (health listener ready) running a verify_authorization job, the
non-root uid, every library found, the size.

Runs once per suite run (not in the sanitizer build: the image compiles its own binaries).
"""
import json
import re
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

import gwsync_harness as h

SOURCE_DIR = h.SOURCE_DIR
BUILD = os.path.join(SOURCE_DIR, "deploy", "docker", "build")
TAG = "localhost/gwsync:smoke"
EMU_TAG = "localhost/gws-emulator:smoke"
UID = 10001
MAX_IMAGE_MB = 120
SERVED = {}  # /metrics text of the api in the image, for the monitoring checks below


def buildah(*args, timeout=120, check=True):
    p = subprocess.run([BUILD, "buildah", *args], capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"buildah {' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="session")
def images():
    t0 = time.monotonic()
    p = subprocess.run([BUILD, "--tag", TAG, "--emulator-tag", EMU_TAG], capture_output=True, text=True,
                       timeout=1500)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-6000:]
    print(f"\nimages built in {time.monotonic() - t0:.0f}s")
    yield
    buildah("rmi", TAG, EMU_TAG, check=False)


class Container:
    """A buildah working container of an image; commands run in it with chroot isolation."""

    def __init__(self, image):
        self.id = buildah("from", "--pull-never", image).stdout.strip().splitlines()[-1]

    def argv(self, cmd, env=None, user=None):
        out = [BUILD, "buildah", "run", "--isolation", "chroot", "--network", "host"]
        for k, v in (env or {}).items():
            out += ["--env", f"{k}={v}"]
        if user:
            out += ["--user", user]
        return out + [self.id, "--", *cmd]

    def run(self, cmd, env=None, timeout=60, check=True):
        p = subprocess.run(self.argv(cmd, env), capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def remove(self):
        buildah("rm", self.id, check=False)


@pytest.fixture(scope="module")
def app(images):
    c = Container(TAG)
    yield c
    c.remove()


@pytest.fixture(scope="module")
def emu_ctr(images):
    c = Container(EMU_TAG)
    yield c
    c.remove()


def gwsync_env(db_name, **extra):
    """Only GWSYNC_* settings go into the container (base_env also carries the host's PATH etc.)."""
    env = {k: v for k, v in h.base_env(db_name, **extra).items()
           if k.startswith("GWSYNC_") and not k.startswith("GWSYNC_TEST_")}
    return env


def descendants(pid):
    """Pids below pid (the chroot-isolated process is a child of buildah, visible on the host)."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(d))
    out, stack = [], [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def role_pid(wrapper_pid, exe_name, role):
    for pid in descendants(wrapper_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(exe_name.encode()) and len(argv) > 1 and argv[1] == role.encode():
            return pid
    raise AssertionError(f"no {exe_name} {role} process below {wrapper_pid}")


def uids(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return {int(x) for x in line.split()[1:]}
    raise AssertionError("no Uid line")


class RoleInImage(h.Process):
    """gwsync ROLE in the image through `buildah run`; stopped with SIGTERM sent to gwsync itself."""

    def __init__(self, ctr, role, env):
        super().__init__([role], os.environ.copy(), argv=ctr.argv(["gwsync", role], env))
        self.role = role

    def pid(self):
        return role_pid(self.proc.pid, "gwsync", self.role)

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        if self.proc.poll() is None:
            os.kill(self.pid(), sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"gwsync {self.role} in the image did not stop within {timeout}s")
        self._out.join(timeout=5)
        self._err.join(timeout=5)
        return self.proc.returncode, 0.0


def test_image_config_size_and_labels(images):
    cfg = json.loads(buildah("inspect", "--type", "image", TAG).stdout)
    oci = cfg["OCIv1"]["config"]
    assert oci["User"] == f"{UID}:{UID}"
    assert oci["Entrypoint"] == ["gwsync"]
    labels = oci["Labels"]
    for k in ("title", "description", "version", "revision", "source", "vendor"):
        assert labels.get(f"org.opencontainers.image.{k}"), (k, labels)
    assert labels["org.opencontainers.image.title"] == "gwsync"
    emu = json.loads(buildah("inspect", "--type", "image", EMU_TAG).stdout)["OCIv1"]["config"]
    assert emu["Entrypoint"] == ["gws-emulator"] and emu["User"] == f"{UID}:{UID}"


def tree_bytes(ctr):
    """Bytes of the container's root file system (vfs: a plain directory once mounted)."""
    path = buildah("mount", ctr.id).stdout.strip()
    try:
        out = subprocess.run(["du", "-sb", "--apparent-size", path], capture_output=True, text=True,
                             check=True, timeout=120).stdout
        return int(out.split()[0])
    finally:
        buildah("umount", ctr.id, check=False)


def test_image_size(app, emu_ctr):
    for name, ctr in ((TAG, app), (EMU_TAG, emu_ctr)):
        size = tree_bytes(ctr)
        print(f"\n{name}: {size / 1e6:.1f} MB")
        assert size <= MAX_IMAGE_MB * 1000 * 1000, f"{name} is {size / 1e6:.1f} MB (goal {MAX_IMAGE_MB})"


def test_runtime_has_libraries_no_tools_and_a_fixed_user(app, emu_ctr):
    for ctr, exe in ((app, "/usr/local/bin/gwsync"), (emu_ctr, "/usr/local/bin/gws-emulator")):
        ldd = ctr.run(["ldd", exe]).stdout
        assert "not found" not in ldd, ldd
        assert "libcivetweb" in ldd
    assert "0.1" in app.run(["gwsync", "version"]).stdout
    assert app.run(["id", "-u"]).stdout.strip() == str(UID)
    assert app.run(["id", "-un"]).stdout.strip() == "gwsync"
    for tool in ("gcc", "cc", "cmake", "make", "ld", "strip", "pkg-config"):
        p = app.run(["sh", "-c", f"command -v {tool}"], check=False)
        assert p.returncode != 0, f"{tool} in the runtime image: {p.stdout}"
    headers = app.run(["sh", "-c", "ls /usr/include 2>/dev/null | wc -l"]).stdout.strip()
    assert headers == "0", f"{headers} entries in /usr/include of the runtime image"
    # no source tree, no build tree
    assert app.run(["test", "-e", "/src"], check=False).returncode != 0
    assert app.run(["test", "-e", "/build"], check=False).returncode != 0


def test_smoke_migrate_api_worker_job(app, emu_ctr, db, tmp_path):
    # The emulator from its own image (as in staging), on a free loopback port.
    emu_port = free_port()
    emu = subprocess.Popen(emu_ctr.argv(["gws-emulator", "--listen", f"127.0.0.1:{emu_port}"]),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    api = worker = None
    try:
        emu_url = emu.stdout.readline().strip()
        assert emu_url == f"http://127.0.0.1:{emu_port}", emu_url
        assert uids(role_pid(emu.pid, "gws-emulator", "--listen")) == {UID}
        sa_file = tmp_path / "sa.json"
        subprocess.run([os.environ["GWS_EMULATOR_BIN"], "keygen", "--out", str(sa_file),
                        "--email", "sync@proj.iam.gserviceaccount.com", "--register", emu_url],
                       check=True, capture_output=True, timeout=60)
        sa = json.loads(sa_file.read_text())

        google = {
            "GWSYNC_GOOGLE_API_URL": emu_url,
            "GWSYNC_GOOGLE_TOKEN_URL": emu_url + "/token",
            "GWSYNC_GOOGLE_ALLOW_HTTP": "true",
            "GWSYNC_GOOGLE_RETRY_BASE_MS": "10",
            "GWSYNC_GOOGLE_RETRY_CAP_MS": "50",
        }
        p = app.run(["gwsync", "migrate"], env=gwsync_env(db))
        assert h.sql(db, "SELECT count(*) FROM schema_migrations")[0][0] > 0, p.stdout
        key = app.run(["gwsync", "keys", "create", "--tenant", "acme", "--role", "editor"],
                      env=gwsync_env(db)).stdout.strip()
        assert key.startswith("gwsk_")

        port, health_port = free_port(), free_port()
        api = RoleInImage(app, "api", gwsync_env(db, GWSYNC_HTTP_LISTEN=f"127.0.0.1:{port}",
                                                 GWSYNC_HEALTH_LISTEN=f"127.0.0.1:{health_port}", **google))
        api.wait_event("api_listening", timeout=60)
        base = f"http://127.0.0.1:{port}"
        health = f"http://127.0.0.1:{health_port}"
        deadline = time.monotonic() + 60
        while True:
            r = requests.get(health + "/readyz", timeout=10)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert r.status_code == 200, r.text
        assert requests.get(base + "/healthz", timeout=10).status_code == 200
        assert uids(api.pid()) == {UID}

        worker_port = free_port()
        worker = RoleInImage(app, "worker", gwsync_env(db, GWSYNC_KAFKA_GROUP="image-" + os.urandom(4).hex(),
                                                      GWSYNC_HEALTH_LISTEN=f"127.0.0.1:{worker_port}",
                                                      **google))
        worker.wait_event("worker_started", timeout=60)
        worker_health = f"http://127.0.0.1:{worker_port}"
        assert requests.get(worker_health + "/healthz", timeout=10).status_code == 200
        r = requests.get(worker_health + "/readyz", timeout=10)
        assert r.status_code == 200, r.text
        assert uids(worker.pid()) == {UID}

        auth = {"Authorization": f"Bearer {key}"}
        r = requests.post(base + "/v1/integrations", headers=auth, json={"name": "Main"}, timeout=30)
        assert r.status_code == 201, r.text
        iid = r.json()["id"]
        r = requests.post(f"{base}/v1/integrations/{iid}/authorization", headers=auth, timeout=60,
                          json={"type": "service_account", "key": sa, "admin_email": "admin@example.com"})
        assert r.status_code == 200, r.text
        r = requests.post(f"{base}/v1/integrations/{iid}/jobs", headers=auth, timeout=30,
                          json={"type": "verify_authorization"})
        assert r.status_code == 202, r.text
        jid = r.json()["id"]
        deadline = time.monotonic() + 90
        while True:
            job = requests.get(f"{base}/v1/jobs/{jid}", headers=auth, timeout=30).json()
            if job["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.3)
        assert job["status"] == "succeeded", job
        assert worker.wait_for(lambda rec: rec.get("job_id") == jid, timeout=10, what="worker log of the job")

        metrics = requests.get(health + "/metrics", timeout=10).text
        assert "gwsync_build_info" in metrics
        SERVED["api"] = metrics
        SERVED["worker"] = requests.get(worker_health + "/metrics", timeout=10).text
        assert "gwsync_kafka_consumer_lag" in SERVED["worker"]
    finally:
        for role in (worker, api):
            if role is not None:
                status, _ = role.stop()
                assert status == 0, role.all_output()[-4000:]
        if emu.poll() is None:
            os.kill(role_pid(emu.pid, "gws-emulator", "--listen"), signal.SIGTERM)
            emu.wait(timeout=30)
        emu.stdout.close()
        emu.stderr.close()


# Metrics the alert rules may take from elsewhere than gwsync (Prometheus itself, kube-state-metrics).
FOREIGN_METRICS = {"up", "kube_pod_status_ready"}


def metric_names(expr):
    """Metric names in a PromQL expression: identifiers followed by a selector or range, or bare
    gwsync_* names (labels and functions are neither)."""
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr))
    names |= set(re.findall(r"\b(gwsync_[a-zA-Z0-9_:]*)", expr))
    return names


def test_dashboard_and_alerts_use_metrics_gwsync_serves():
    """Every dashboard query and every alert names metrics that the api's or the worker's
    /metrics really served in the smoke test above."""
    import yaml
    assert "api" in SERVED and "worker" in SERVED, "the smoke test did not run"
    served = {line.split("{")[0].split(" ")[0] for text in SERVED.values() for line in text.splitlines()
              if line and not line.startswith("#")}
    base = os.path.join(SOURCE_DIR, "deploy", "k8s", "base")
    dash = json.load(open(os.path.join(base, "dashboard", "gwsync.json")))
    exprs = [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]
    rules = yaml.safe_load(open(os.path.join(base, "prometheusrule.yaml")))
    exprs += [(r["alert"], r["expr"]) for g in rules["spec"]["groups"] for r in g["rules"]]
    for where, expr in exprs:
        names = metric_names(expr)
        assert names, (where, expr)
        for name in names - FOREIGN_METRICS:
            assert name in served, f"{where}: {name} is not served by /metrics"
