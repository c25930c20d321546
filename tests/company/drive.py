"""Driving gwsync and gws-emulator with a generated company (Python stdlib only).

What a platform service does, through the public API only: create the integration, feed the
directory over REST (users, passwords, groups, memberships, bindings) and the lockouts as
directory events on Kafka (kcat), authorize with a service-account key registered in the
emulator, then a dry-run full_sync, its plan_summary, the approval and the run. Used by
deploy/local/demo, tests/e2e/test_company.py and tests/bench/company.
"""
import http.client
import json
import queue
import subprocess
import threading
import time
import urllib.parse
import uuid


class HttpError(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path}: {status} {body[:500]}")
        self.status, self.body = status, body


class Client:
    """JSON over one keep-alive connection per thread."""

    def __init__(self, base, key=None, timeout=120):
        u = urllib.parse.urlsplit(base)
        self.base, self.host, self.port, self.key, self.timeout = base, u.hostname, u.port, key, timeout
        self.local = threading.local()

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return c

    def call(self, method, path, body=None, ok=(200, 201, 202, 204)):
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = "Bearer " + self.key
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(6):
            c = self._conn()
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                text = r.read().decode("utf-8", "replace")
            except (http.client.HTTPException, ConnectionError):
                c.close()
                self.local.conn = None
                if attempt == 5:
                    raise
                continue
            if r.status != 503 or attempt == 5:
                break
            time.sleep(0.2 * 2 ** attempt)  # 503: a backing service is busy; a client retries
        if ok and r.status not in ok:
            raise HttpError(method, path, r.status, text)
        return json.loads(text) if text.strip() else None

    def parallel(self, calls, threads=4):
        """Runs (method, path, body) calls on a few connections; raises the first error."""
        q, errors = queue.Queue(), []
        for c in calls:
            q.put(c)

        def run():
            while not errors:
                try:
                    m, p, b = q.get_nowait()
                except queue.Empty:
                    return
                try:
                    self.call(m, p, b)
                except Exception as ex:  # reported by the caller
                    errors.append(ex)
        ts = [threading.Thread(target=run) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]


class Emulator:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.c = Client(self.base)

    def ctl(self, method, path, body=None):
        return self.c.call(method, "/_emulator/" + path, body, ok=(200, 201, 204))

    def seed(self, state):
        """The company's Google account on a fresh default state (which drops keys and tokens)."""
        return self.ctl("POST", "seed/account", {"fixture": state})

    def register_sa(self, key):
        self.ctl("POST", "service-accounts", key)

    def requests_since(self, seq=0):
        return self.ctl("GET", f"requests?since={seq}")["requests"]

    def last_seq(self):
        r = self.requests_since(0)
        return r[-1]["seq"] if r else 0

    def state(self):
        return self.ctl("GET", "state")


def keygen(emulator_bin, out, email="gwsync-demo@company.iam.gserviceaccount.com"):
    subprocess.run([emulator_bin, "keygen", "--out", out, "--email", email], check=True, capture_output=True)
    with open(out) as f:
        return json.load(f)


def create_integration(api, directory, name="Company"):
    integ = directory["integration"]
    iid = api.call("POST", "/v1/integrations", {"name": name})["id"]
    for d in integ["domains"]:
        api.call("POST", f"/v1/integrations/{iid}/domains", {"domain": d})
    api.call("PATCH", f"/v1/integrations/{iid}", {"settings": integ["settings"]})
    api.call("PUT", f"/v1/integrations/{iid}/attribute-rules", {"rules": integ["rules"]})
    return iid


def feed_directory(api, iid, directory, threads=4):
    """The platform's directory over REST: people, passwords, groups with members, bindings."""
    api.parallel([("PUT", f"/v1/users/{urllib.parse.quote(u['id'])}", {k: v for k, v in u.items() if k != "id"})
                  for u in directory["users"]], threads)
    api.parallel([("POST", f"/v1/users/{uid}/password", form) for uid, form in directory["passwords"].items()],
                 threads)
    api.parallel([("PUT", f"/v1/groups/{g['id']}", {"name": g["name"], "description": g["description"],
                                                     "email": g["email"]}) for g in directory["groups"]], threads)
    api.parallel([("PUT", f"/v1/groups/{g['id']}/members/{uid}", None)
                  for g in directory["groups"] for uid in g["members"]], threads)
    api.parallel([("PUT", f"/v1/integrations/{iid}/groups/{g['id']}", None)
                  for g in directory["groups"] if g["bound"]], threads)
    api.parallel([("PUT", f"/v1/integrations/{iid}/users/{uid}", None) for uid in directory["direct_bindings"]],
                 threads)


def directory_event(tenant, type_, data):
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/platform/directory", "type": type_,
            "tenant": tenant, "datacontenttype": "application/json", "subject": data.get("id"), "data": data}


def publish(brokers, events, topic="gwsync.directory-events"):
    """Directory events on Kafka with kcat (key: the user or group id)."""
    lines = "".join(f"{ev['data']['id']}\t{json.dumps(ev)}\n" for ev in events)
    subprocess.run(["kcat", "-P", "-b", brokers, "-t", topic, "-K", "\t"], input=lines.encode(), check=True,
                   timeout=60)


def lock_people(api, brokers, tenant, directory, timeout=60):
    """user.locked for each locked person (the platform's identity provider locked them out);
    waits until the worker applied each (the user's updated_at moves)."""
    ids = directory["locked"]
    if not ids:
        return
    before = {uid: api.call("GET", f"/v1/users/{uid}")["updated_at"] for uid in ids}
    publish(brokers, [directory_event(tenant, "user.locked", {"id": uid}) for uid in ids])
    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending:
        pending = {uid for uid in pending if api.call("GET", f"/v1/users/{uid}")["updated_at"] == before[uid]}
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"user.locked not applied within {timeout} s for {sorted(pending)}")
        time.sleep(0.2)


def authorize(api, iid, sa_key, admin):
    r = api.call("POST", f"/v1/integrations/{iid}/authorization",
                 {"type": "service_account", "key": sa_key, "admin_email": admin})
    if r["integration"]["status"] != "active":
        raise RuntimeError(f"authorization: {r}")
    return r


def drop_queued(api, iid, type_="sync_groups"):
    """Cancels the queued jobs of a type (the group sync an integration's activation queues, so the
    dry run that follows shows the whole first sync). Returns how many."""
    n = 0
    for j in api.call("GET", f"/v1/integrations/{iid}/jobs?limit=100")["items"]:
        if j["type"] == type_ and j["status"] == "queued":
            api.call("POST", f"/v1/jobs/{j['id']}/cancel", ok=(200, 202, 409))
            n += 1
    return n


def wait_job(api, jid, timeout=1800, progress=None, until=("queued", "running")):
    deadline = time.monotonic() + timeout
    while True:
        j = api.call("GET", f"/v1/jobs/{jid}")
        if progress:
            progress(j)
        if j["status"] not in until:
            return j
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {jid} still {j['status']} after {timeout} s")
        time.sleep(0.2)


def idle(api, iid, timeout=600):
    deadline = time.monotonic() + timeout
    while True:
        items = api.call("GET", f"/v1/integrations/{iid}/jobs?limit=100")["items"]
        if all(j["status"] not in ("queued", "running") for j in items):
            return
        if time.monotonic() > deadline:
            raise RuntimeError("jobs still queued or running: " + json.dumps(
                [(j["type"], j["status"]) for j in items if j["status"] in ("queued", "running")]))
        time.sleep(0.3)


def post_job(api, iid, type_, dry_run=False, **params):
    body = {"type": type_, "parameters": params}
    if dry_run:
        body["dry_run"] = True
    return api.call("POST", f"/v1/integrations/{iid}/jobs", body)["id"]


def dry_run_and_apply(api, iid, say=print, progress=None, timeout=1800):
    """A dry-run full_sync, its plan_summary, the approval, the applied run (approving again when the
    deletion guard stops it). Returns (dry-run job, applied job)."""
    dry = wait_job(api, post_job(api, iid, "full_sync", dry_run=True), timeout)
    if dry["status"] != "succeeded":
        raise RuntimeError(f"dry run: {dry['status']} {dry.get('error')}")
    say(dry)
    jid = api.call("POST", f"/v1/jobs/{dry['id']}/approve")["id"]
    job = wait_job(api, jid, timeout, progress, until=("queued", "running"))
    while job["status"] == "awaiting_approval":
        say(job)
        api.call("POST", f"/v1/jobs/{jid}/approve")
        job = wait_job(api, jid, timeout, progress, until=("queued", "running", "awaiting_approval"))
    return dry, job


class ProgressLine:
    """A job's progress as one line per phase. A full_sync reports its users, then its groups,
    each from 0 and with no total (null) until that phase is planned; the server's counter starts
    again for the groups, so the users' line is finished (with its last figures) and the groups
    get a line of their own. While a phase plans, done counts what it has read; once the total is
    known, what it has written: each is shown under its own label, so no number goes back."""

    PHASES = {"full_sync": ("users", "groups"), "export_users": ("users",), "sync_groups": ("groups",),
              "import_users": ("users",)}

    def __init__(self):
        self.phase, self.had_total, self.text, self.width = 0, False, "", 0

    def update(self, job):
        """The job as last read: returns (finished, current), finished being the whole last line
        of a phase that just ended (print it and a newline) or None, current the line to show."""
        phases = self.PHASES.get(job["type"], (job["type"],))
        p, c = job["progress"], job["counts"]
        finished = None
        if p["total"] is None and self.had_total and self.phase + 1 < len(phases):
            finished, self.phase, self.had_total = self.text, self.phase + 1, False
        self.had_total = self.had_total or p["total"] is not None
        step = f"planning, {p['done']} read" if p["total"] is None else f"{p['done']}/{p['total']}"
        text = (f"   {job['type']} {phases[min(self.phase, len(phases) - 1)]:<6} {job['status']:<17} "
                f"{step:<22} created {c['created']} updated {c['updated']} unchanged {c['unchanged']} "
                f"skipped {c['skipped']} failed {c['failed']}")
        self.width = max(self.width, len(text))
        self.text = text.ljust(self.width)
        if job["status"] == "awaiting_approval":  # approved, it runs again from its first phase
            self.phase, self.had_total = 0, False
        return finished, self.text


def plan_lines(summary):
    """plan_summary as printable lines: creates / takeovers / updates / suspensions / conflicts /
    skipped by reason."""
    ops = {k: v for k, v in ((summary or {}).get("ops") or {}).items() if v}
    reasons = (summary or {}).get("reasons", {})
    names = [("create", "creates"), ("link", "takeovers"), ("update", "updates"), ("rename", "renames"),
             ("set_password", "password changes"), ("suspend", "suspensions"), ("unsuspend", "unsuspensions"),
             ("conflict", "conflicts"), ("fail", "failures"), ("skip", "skipped")]
    out = []
    for op, label in names:
        if ops.get(op):
            out.append(f"{label:>17}  {ops.pop(op)}")
    for op, n in sorted(ops.items()):
        out.append(f"{op:>17}  {n}")
    if reasons:
        out.append("  by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    groups = (summary or {}).get("groups")
    if groups:  # a full_sync's group plan, beside the users'
        greasons = groups.get("reasons") or {}
        out.append("groups: " + ", ".join(f"{k} {v}" for k, v in sorted(groups.items())
                                          if k != "reasons" and v))
        if greasons:
            out.append("  by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(greasons.items())))
    return out
