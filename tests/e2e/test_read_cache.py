"""The API's read cache through the real binary and PostgreSQL: answers are reused, yet a change is
seen at once through the replica that made it, soon (by notification) through every other writer,
never across tenants, and never after the notification connection was lost."""
import re
import time

import gwsync_harness as h

LISTENER = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND "
            "query = 'LISTEN \"gwsync_changes\"'")


def cache_counts(api):
    text = api.get("/metrics").text
    hit = re.search(r'^gwsync_read_cache_requests_total\{outcome="hit"\} (\d+)$', text, re.M)
    miss = re.search(r'^gwsync_read_cache_requests_total\{outcome="miss"\} (\d+)$', text, re.M)
    return int(hit.group(1)), int(miss.group(1))


def invalidations(api):
    text = api.get("/metrics").text
    return int(re.search(r"^gwsync_read_cache_invalidations_total (\d+)$", text, re.M).group(1))


def listening(api):
    return re.search(r"^gwsync_read_cache_listening 1$", api.get("/metrics").text, re.M) is not None


def wait_until(predicate, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def rename_silently(db, integration_id, name):
    """Changes a row with triggers off, so no change is announced: what a lost notification is."""
    h.sql(db, "SET session_replication_role = replica; UPDATE integrations SET name = %s WHERE id = %s",
          name, integration_id)


def new_integration(api, key, name="Cached"):
    r = api.post("/v1/integrations", key=key, json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()


def test_repeated_reads_are_answered_from_the_cache(api, db):
    key = h.create_key(db, "acme", "editor")
    it = new_integration(api, key)
    wait_until(lambda: listening(api), what="the cache to listen")
    # The notification of the writes above may still be on its way: when it lands between the
    # two reads it rightly drops the first answer, and the pair is read again.
    for _ in range(20):
        dropped = invalidations(api)
        first = api.get(f"/v1/integrations/{it['id']}", key=key)
        hits, _ = cache_counts(api)
        again = api.get(f"/v1/integrations/{it['id']}", key=key)
        after = cache_counts(api)[0]
        if invalidations(api) == dropped:
            break
    assert after == hits + 1
    assert again.json() == first.json() and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Content-Type"] == "application/json"
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    # Proof that the second answer did not come from the database: a silent change is not seen.
    rename_silently(db, it["id"], "Renamed behind its back")
    assert api.get(f"/v1/integrations/{it['id']}", key=key).json()["name"] == "Cached"


def test_own_writes_are_read_at_once(api, db):
    key = h.create_key(db, "acme", "editor")
    it = new_integration(api, key)
    wait_until(lambda: listening(api), what="the cache to listen")
    path = f"/v1/integrations/{it['id']}"
    for _ in range(2):
        api.get(path, key=key)
        api.get("/v1/integrations", key=key)
        api.get("/v1/users?limit=100", key=key)
    etag = api.get(path, key=key).headers["ETag"]
    r = api.request("PATCH", path, key, json={"name": "Patched"}, headers={"If-Match": etag})
    assert r.status_code == 200, r.text
    assert api.get(path, key=key).json()["name"] == "Patched"
    assert [i["name"] for i in api.get("/v1/integrations", key=key).json()["items"]] == ["Patched"]
    r = api.request("PUT", "/v1/users/u1", key, json={"email": "u1@example.com", "first_name": "U",
                                                        "last_name": "One"})
    assert r.status_code == 201, r.text
    assert [u["id"] for u in api.get("/v1/users?limit=100", key=key).json()["items"]] == ["u1"]
    assert api.delete(path, key=key).status_code == 204
    h.assert_problem(api.get(path, key=key), 404)


def test_changes_by_others_arrive_by_notification(api, db):
    """The worker, the scheduler and other replicas write PostgreSQL directly: the trigger tells."""
    key = h.create_key(db, "acme", "reader")
    editor = h.create_key(db, "acme", "editor")
    it = new_integration(api, editor)
    wait_until(lambda: listening(api), what="the cache to listen")
    path = f"/v1/integrations/{it['id']}"
    api.get(path, key=key)
    api.get(path, key=key)
    tenant = h.sql(db, "SELECT tenant_id FROM integrations WHERE id = %s", it["id"])[0][0]
    h.sql(db, "UPDATE integrations SET status = 'reauthorization_required' WHERE id = %s", it["id"])
    wait_until(lambda: api.get(path, key=key).json()["status"] == "reauthorization_required",
               timeout=2, what="the notified change")
    api.get("/v1/users", key=key)
    h.sql(db, "INSERT INTO directory_users (tenant_id, id, email, state) VALUES (%s, 'w1', "
          "'w1@example.com', 'active')", tenant)
    wait_until(lambda: [u["id"] for u in api.get("/v1/users", key=key).json()["items"]] == ["w1"],
               timeout=2, what="the notified insert")
    api.get("/v1/users/w1", key=key)
    h.sql(db, "DELETE FROM directory_users WHERE id = 'w1'")
    wait_until(lambda: api.get("/v1/users/w1", key=key).status_code == 404, timeout=2,
               what="the notified delete")


def test_tenants_never_share_answers(api, db):
    a = h.create_key(db, "acme", "editor")
    b = h.create_key(db, "globex", "editor")
    it = new_integration(api, a, "Acme's")
    wait_until(lambda: listening(api), what="the cache to listen")
    for key, uid in ((a, "ua"), (b, "ub")):
        r = api.request("PUT", f"/v1/users/{uid}", key, json={"email": f"{uid}@example.com",
                                                               "first_name": "F", "last_name": "L"})
        assert r.status_code == 201, r.text
    for _ in range(3):
        assert api.get(f"/v1/integrations/{it['id']}", key=a).status_code == 200
        h.assert_problem(api.get(f"/v1/integrations/{it['id']}", key=b), 404)
        assert [u["id"] for u in api.get("/v1/users", key=a).json()["items"]] == ["ua"]
        assert [u["id"] for u in api.get("/v1/users", key=b).json()["items"]] == ["ub"]
        assert api.get("/v1/integrations", key=b).json()["items"] == []


def test_nothing_is_served_across_a_lost_notification_connection(api, db):
    key = h.create_key(db, "acme", "editor")
    it = new_integration(api, key)
    path = f"/v1/integrations/{it['id']}"
    wait_until(lambda: h.sql(db, LISTENER) and listening(api), what="the cache to listen")
    old_pid = h.sql(db, LISTENER)[0][0]
    api.get(path, key=key)
    rename_silently(db, it["id"], "Changed while unheard")
    assert api.get(path, key=key).json()["name"] == "Cached"
    h.sql(db, "SELECT pg_terminate_backend(%s)", old_pid)
    wait_until(lambda: any(pid != old_pid for (pid,) in h.sql(db, LISTENER) or []), timeout=10,
               what="the listener to reconnect")
    # The cache stopped serving when the connection dropped and started afresh when it came back.
    assert api.get(path, key=key).json()["name"] == "Changed while unheard"
    wait_until(lambda: listening(api), what="the cache to listen again")
    api.get(path, key=key)
    h.sql(db, "UPDATE integrations SET name = 'Heard again' WHERE id = %s", it["id"])
    wait_until(lambda: api.get(path, key=key).json()["name"] == "Heard again", timeout=2,
               what="notifications after the reconnection")


def test_max_age_and_turning_the_cache_off(db):
    key = h.create_key(db, "acme", "editor")
    for env, expect_stale in (({"GWSYNC_READ_CACHE_MAX_AGE_MS": "1500"}, True),
                              ({"GWSYNC_READ_CACHE_MB": "0"}, False)):
        api = h.Api(db, **env)
        try:
            it = new_integration(api, key, f"Aged {expect_stale}")
            path = f"/v1/integrations/{it['id']}"
            if expect_stale:
                wait_until(lambda: listening(api), what="the cache to listen")
            api.get(path, key=key)
            rename_silently(db, it["id"], f"Silent {expect_stale}")
            seen = api.get(path, key=key).json()["name"]
            assert seen == (f"Aged {expect_stale}" if expect_stale else f"Silent {expect_stale}")
            time.sleep(1.6)
            assert api.get(path, key=key).json()["name"] == f"Silent {expect_stale}"
            if not expect_stale:
                assert cache_counts(api)[0] == 0
                assert not listening(api)
        finally:
            status, _ = api.stop()
            h.assert_clean_exit(status, api.process)
