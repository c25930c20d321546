"""gwsync migrate against a real PostgreSQL: order, no-op re-runs, concurrent migrators, tampering."""
import json
import subprocess

import psycopg2

import gwsync_harness as h


def applied_count(proc):
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        if rec.get("event") == "migrate_done":
            return rec["applied"], rec["version"]
    raise AssertionError(proc.stdout + proc.stderr)


def query(db, sql):
    conn = psycopg2.connect(h.database_url(db))
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def test_fresh_then_noop():
    db = h.create_database()
    try:
        applied, version = applied_count(h.migrate(db))
        assert applied >= 1 and version == applied
        rows = query(db, "SELECT version, name, length(sha256) FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == list(range(1, version + 1))
        assert all(r[2] == 64 for r in rows)
        assert query(db, "SELECT to_regclass('tenants') IS NOT NULL, to_regclass('api_keys') IS NOT NULL") == [(True, True)]
        before = query(db, "SELECT version, applied_at FROM schema_migrations ORDER BY version")
        assert applied_count(h.migrate(db)) == (0, version)
        assert query(db, "SELECT version, applied_at FROM schema_migrations ORDER BY version") == before
    finally:
        h.drop_database(db)


def test_concurrent_migrators_apply_once():
    db = h.create_database()
    try:
        env = h.base_env(db)
        procs = [subprocess.Popen([h.GWSYNC_BIN, "migrate"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(6)]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            results.append(applied_count(subprocess.CompletedProcess([], 0, out, err)))
        applied = sorted(r[0] for r in results)
        assert applied[:-1] == [0] * 5 and applied[-1] >= 1, results
        assert len({r[1] for r in results}) == 1
    finally:
        h.drop_database(db)


def test_changed_migration_is_refused():
    db = h.create_database()
    try:
        h.migrate(db)
        conn = psycopg2.connect(h.database_url(db))
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("UPDATE schema_migrations SET sha256 = repeat('0', 64) WHERE version = 1")
        conn.close()
        p = h.run(["migrate"], h.base_env(db), check=False)
        assert p.returncode == 1
        assert "was changed after it was applied" in p.stderr
    finally:
        h.drop_database(db)


def test_unreachable_database_fails_clearly():
    env = h.base_env("none", GWSYNC_DATABASE_URL="postgresql://postgres:pw-should-not-leak@127.0.0.1:1/x",
                     GWSYNC_DB_CONNECT_TIMEOUT_S=2)
    p = h.run(["migrate"], env, check=False, timeout=30)
    assert p.returncode == 1
    assert "database unreachable" in p.stderr
    assert "pw-should-not-leak" not in p.stdout + p.stderr
