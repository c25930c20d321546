"""db/store_authorization.c functions no route reaches yet: the periodic stale check and the
coalesced last-use mark (driven through build/store_tool against a real PostgreSQL)."""
import json
import os
import subprocess


import gwsync_harness as h

TOOL = os.path.join(os.environ.get("GWSYNC_TEST_TOOLS", "build"), "store_tool")


def sql(db, statement, *args):
    return h.sql(db, statement, *args)


def tool(db, *args):
    p = subprocess.run([TOOL, h.database_url(db), *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def integration(db, tid, name, status, last_used_days=None, authorized_days=0):
    iid = sql(db, "INSERT INTO integrations (tenant_id, name, status) VALUES (%s, %s, %s) RETURNING id",
              tid, name, status)[0][0]
    if last_used_days is not False:
        sql(db, "INSERT INTO integration_credentials (integration_id, tenant_id, kind, client_id, scopes, secret, "
                "key_id, authorized_at, last_used_at) VALUES (%s, %s, 'oauth', 'c', 's', 'v1.k.x', 'k', "
                "now() - make_interval(days => %s), "
                "CASE WHEN %s::int IS NULL THEN NULL ELSE now() - make_interval(days => %s::int) END)",
            iid, tid, authorized_days, last_used_days, last_used_days)
    return iid


def test_mark_stale_moves_only_long_unused_active_integrations(db):
    tid = sql(db, "INSERT INTO tenants (name) VALUES ('acme') RETURNING id")[0][0]
    stale = integration(db, tid, "stale", "active", last_used_days=200)
    never_used = integration(db, tid, "never used", "active", last_used_days=None, authorized_days=181)
    fresh = integration(db, tid, "fresh", "active", last_used_days=3)
    young = integration(db, tid, "young", "active", last_used_days=None, authorized_days=10)
    pending = integration(db, tid, "pending", "pending_authorization", last_used_days=300)
    no_cred = integration(db, tid, "no credential", "active", last_used_days=False)
    assert tool(db, "mark-stale", "180") == {"moved": 2}
    status = dict(sql(db, "SELECT id, status FROM integrations"))
    assert status[stale] == status[never_used] == "reauthorization_required"
    assert status[fresh] == status[young] == status[no_cred] == "active"
    assert status[pending] == "pending_authorization"
    reasons = dict(sql(db, "SELECT integration_id, last_error_reason FROM integration_credentials"))
    assert reasons[stale] == "unused" and reasons[fresh] is None
    # a second run finds nothing more
    assert tool(db, "mark-stale", "180") == {"moved": 0}
    # a shorter period catches the rest (fresh: used 3 days ago; young: authorized 10 days ago)
    assert tool(db, "mark-stale", "2") == {"moved": 2}
    assert sql(db, "SELECT status FROM integrations WHERE id = %s", no_cred) == [("active",)]
    p = subprocess.run([TOOL, h.database_url(db), "mark-stale", "0"], capture_output=True, text=True)
    assert p.returncode == 1 and "days" in p.stderr


def test_touch_writes_at_most_once_a_minute(db):
    tid = sql(db, "INSERT INTO tenants (name) VALUES ('acme') RETURNING id")[0][0]
    iid = integration(db, tid, "i", "active", last_used_days=1)
    assert tool(db, "touch", iid) == {"written": True}
    first = sql(db, "SELECT last_used_at FROM integration_credentials")[0][0]
    assert tool(db, "touch", iid) == {"written": False}
    assert sql(db, "SELECT last_used_at FROM integration_credentials")[0][0] == first
    sql(db, "UPDATE integration_credentials SET last_used_at = now() - interval '61 seconds'")
    assert tool(db, "touch", iid) == {"written": True}
