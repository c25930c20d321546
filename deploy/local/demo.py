#!/usr/bin/python3
"""The demo deploy/local/run shows (Python stdlib only): a generated company (tests/company) synced
end to end through the running api and worker against the Google emulator.

  demo.py --api URL --operator-key-file FILE --emulator URL --emulator-bin PATH --brokers HOST:PORT
          --run-dir DIR [--users 2000] [--seed 1]

A fresh tenant and editor key each time (the database outlives runs), the company's Google side
seeded into the emulator, the directory fed over REST and Kafka, the integration authorized with a
service-account key registered in the emulator, a dry-run full_sync with its plan_summary, the
approval, the run with a progress line, the counts, and the commands to look further.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "company"))
import company  # noqa: E402
import drive  # noqa: E402


def say(*a):
    print(*a, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for a in ("--api", "--operator-key-file", "--emulator", "--emulator-bin", "--brokers", "--run-dir"):
        ap.add_argument(a, required=True)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    t_all = time.monotonic()
    with open(a.operator_key_file) as f:
        op = drive.Client(a.api, f.read().strip())
    tenant = op.call("POST", "/v1/tenants", {"name": "Company " + time.strftime("%Y-%m-%d %H:%M:%S")})
    key = op.call("POST", f"/v1/tenants/{tenant['id']}/api-keys", {"role": "editor"})["key"]
    key_file = os.path.join(a.run_dir, "editor.key")
    with open(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(key + "\n")
    api = drive.Client(a.api, key)
    emu = drive.Emulator(a.emulator)

    t0 = time.monotonic()
    state, directory, expected = company.generate(a.seed, a.users)
    s = company.summary(state, directory, expected)
    emu.seed(state)
    sa = drive.keygen(a.emulator_bin, os.path.join(a.run_dir, "sa-key.json"))
    emu.register_sa(sa)
    say(f"demo: company (seed {a.seed}): Google holds {s['google_users']} users and {s['google_groups']} groups on "
        f"{company.PRIMARY}, {company.SECOND} (+ {company.UNVERIFIED}, unverified); the directory holds "
        f"{s['people']} people, {len(directory['groups'])} groups ({s['groups_bound']} bound, "
        f"{s['bound_directly']} people bound directly)")
    iid = drive.create_integration(api, directory)
    drive.feed_directory(api, iid, directory)
    drive.lock_people(api, a.brokers, tenant["id"], directory)
    say(f"demo: directory fed over REST, {len(directory['locked'])} lockouts as user.locked events on Kafka "
        f"({time.monotonic() - t0:.1f} s)")
    drive.authorize(api, iid, sa, directory["authorizer"])
    dropped = drive.drop_queued(api, iid)
    say(f"demo: integration {iid} authorized as {directory['authorizer']} (a delegated admin: admin users are "
        f"protected){'; the group sync its activation queued is dropped, the full sync does it' if dropped else ''}")

    def show(job):
        if job["dry_run"]:
            say(f"\ndry run {job['id']} (full_sync): nothing written; the plan:")
            for line in drive.plan_lines(job.get("plan_summary")):
                say("   " + line)
            say(f"   the whole plan: GET /v1/jobs/{job['id']}/plan")
            say("approving it ...")
        else:
            say(f"\nthe deletion guard stopped job {job['id']} ({job['status']}): it would suspend or remove more "
                f"than the limits allow; a person would look at its plan (GET /v1/jobs/{job['id']}/plan). "
                "Approving it ...")

    last, line = [0.0], drive.ProgressLine()

    def progress(job):
        finished, text = line.update(job)  # every read: a phase that ends is never missed
        if finished:
            sys.stdout.write("\r" + finished + "\n")
        elif time.monotonic() - last[0] < 0.5 and job["status"] in ("queued", "running"):
            return
        last[0] = time.monotonic()
        sys.stdout.write("\r" + text)
        sys.stdout.flush()

    t1 = time.monotonic()
    dry, job = drive.dry_run_and_apply(api, iid, show, progress)
    progress(job)
    say("")
    drive.idle(api, iid)
    t_run = time.monotonic() - t1
    c = job["counts"]
    say(f"\nfull_sync {job['id']}: {job['status']} in {t_run:.1f} s (dry run included): created {c['created']}, "
        f"updated {c['updated']}, unchanged {c['unchanged']}, skipped {c['skipped']}, failed {c['failed']} "
        "(users and groups; a failure is a person Google's rules refuse or a conflict, reported on that person)")
    counts = {}
    cursor = None
    while True:
        q = f"/v1/integrations/{iid}/users?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = api.call("GET", q)
        for u in page["items"]:
            st = (u.get("link") or {}).get("status") or "not linked"
            counts[st] = counts.get(st, 0) + 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
    say("   people by link status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    conflict = next(uid for uid, e in expected["users"].items() if e["outcome"] == "conflict")
    person = next(u for u in directory["users"] if expected["users"][u["id"]]["outcome"] == "linked"
                  and "'" not in json.dumps(u) and "%" not in json.dumps(u) and u["state"] == "active"
                  and u["id"] not in directory["locked"])
    base, auth = a.api, f'-H "Authorization: Bearer $(cat {key_file})"'
    say(f"""
Look further (editor key in {a.run_dir}/editor.key):
  curl -s {auth} {base}/v1/jobs/{job['id']}
  curl -s {auth} '{base}/v1/jobs/{job['id']}/items?limit=100'
  curl -s {auth} '{base}/v1/jobs/{dry['id']}/plan?limit=100'
  curl -s {auth} {base}/v1/integrations/{iid}/users/{person['id']}      # a person taken over
  curl -s {auth} {base}/v1/integrations/{iid}/users/{conflict}      # a conflict, reported on the person
  curl -s {auth} '{base}/v1/integrations/{iid}/groups?limit=100'
  curl -s {a.emulator}/_emulator/info                                  # the emulator (Google)""")
    data = {k: person[k] for k in ("id", "email", "first_name", "last_name", "state", "department", "phones",
                                   "addresses") if k in person}
    data["job_title"] = "Head of Demos"
    ev = drive.directory_event(tenant["id"], "user.updated", data)
    ev["id"] = "demo-%s"
    text = json.dumps(ev, ensure_ascii=False, separators=(",", ":"))
    say(f"""
Publish a directory event (a new job title for {person['email']}) with kcat; the change reaches the
emulator within a second (its users.update shows in the request log):
  printf '{person['id']}\\t{text}\\n' "$(date +%s%N)" | kcat -P -b {a.brokers} -t gwsync.directory-events -K '\\t'
  curl -s '{a.emulator}/_emulator/requests?since={emu.last_seq()}' | python3 -m json.tool | grep -A3 '"PUT"'
demo: done in {time.monotonic() - t_all:.0f} s""")


if __name__ == "__main__":
    main()
