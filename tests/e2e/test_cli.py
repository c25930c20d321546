"""The binary's command line: configuration errors, config check, help, README's table."""
import os
import re
import subprocess

import gwsync_harness as h


def gw(args, env):
    return subprocess.run([h.GWSYNC_BIN, *args], env=env, capture_output=True, text=True, timeout=30)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GWSYNC_")}
    env.update(extra)
    return env


def test_every_config_problem_reported_at_once():
    p = gw(["api"], clean_env(GWSYNC_HTTP_THREADS="many", GWSYNC_LOG_LEVEL="loud",
                              GWSYNC_HTTP_LISTEN="localhost"))
    assert p.returncode == 78
    for expected in ("GWSYNC_DATABASE_URL: required", "GWSYNC_KAFKA_BROKERS: required",
                     "GWSYNC_SECRET_KEY: required",
                     "GWSYNC_HTTP_THREADS", "GWSYNC_LOG_LEVEL", "GWSYNC_HTTP_LISTEN"):
        assert expected in p.stderr, p.stderr
    assert "6 configuration problems" in p.stderr


def test_migrate_needs_no_kafka_but_worker_does():
    p = gw(["config", "check", "--role", "migrate"], clean_env(GWSYNC_DATABASE_URL="postgresql://x/y"))
    assert p.returncode == 0, p.stderr
    p = gw(["worker"], clean_env(GWSYNC_DATABASE_URL="postgresql://x/y"))
    assert p.returncode == 78 and "GWSYNC_KAFKA_BROKERS" in p.stderr


def test_config_check_refuses_the_health_listener_on_the_api_port():
    env = clean_env(GWSYNC_DATABASE_URL="postgresql://x/y", GWSYNC_KAFKA_BROKERS="127.0.0.1:9",
                    GWSYNC_SECRET_KEY=h.TEST_SECRET_KEY, GWSYNC_HTTP_LISTEN="0.0.0.0:8080",
                    GWSYNC_HEALTH_LISTEN="127.0.0.1:8080")
    p = gw(["config", "check"], env)
    assert p.returncode == 78, p.stderr
    assert re.search(r"GWSYNC_HEALTH_LISTEN: 127\.0\.0\.1:8080 is the address of the API "
                     r"\(GWSYNC_HTTP_LISTEN=0\.0\.0\.0:8080\)", p.stderr), p.stderr
    # the worker has no API listener
    assert gw(["config", "check", "--role", "worker"], env).returncode == 0
    env["GWSYNC_HEALTH_LISTEN"] = "127.0.0.1:8081"
    assert gw(["config", "check"], env).returncode == 0


def test_config_check_redacts_secrets(tmp_path):
    secret_file = tmp_path / "db"
    secret_file.write_text("postgresql://u:hunter2secret@127.0.0.1/db\n")
    p = gw(["config", "check"], clean_env(GWSYNC_DATABASE_URL_FILE=str(secret_file),
                                          GWSYNC_KAFKA_BROKERS="127.0.0.1:9",
                                          GWSYNC_KAFKA_X_SASL_PASSWORD="kafkasecret",
                                          GWSYNC_KAFKA_X_SOCKET_TIMEOUT_MS="5000",
                                          GWSYNC_SECRET_KEY=h.TEST_SECRET_KEY,
                                          GWSYNC_GOOGLE_OAUTH_CLIENT_SECRET="oauthsecret42"))
    assert p.returncode == 0, p.stderr
    assert h.TEST_SECRET_KEY.split(":")[1] not in p.stdout + p.stderr
    assert "oauthsecret42" not in p.stdout + p.stderr
    assert "GWSYNC_SECRET_KEY=<redacted>" in p.stdout
    assert "GWSYNC_GOOGLE_OAUTH_CLIENT_SECRET=<redacted>" in p.stdout
    assert "hunter2secret" not in p.stdout + p.stderr
    assert "kafkasecret" not in p.stdout + p.stderr
    assert "GWSYNC_DATABASE_URL=<redacted>" in p.stdout
    assert "kafka socket.timeout.ms=5000" in p.stdout
    assert "kafka sasl.password=<redacted>" in p.stdout


def test_help_for_every_command():
    for cmd in ("api", "worker", "migrate", "keys", "config", "routes", "version"):
        p = gw([cmd, "--help"], clean_env())
        assert p.returncode == 0 and p.stdout.startswith("usage: gwsync " + cmd), (cmd, p.stdout)
    p = gw(["frobnicate"], clean_env())
    assert p.returncode == 64 and "unknown command" in p.stderr
    assert gw(["version"], clean_env()).stdout.startswith("gwsync ")


def test_readme_variables_match_config_table():
    doc = gw(["config", "doc"], clean_env()).stdout
    readme = open(os.path.join(h.SOURCE_DIR, "README.md"), encoding="utf-8").read()
    section = re.search(r"<!-- config-table:begin -->\n(.*?)<!-- config-table:end -->", readme, re.S)
    assert section, "README.md lacks the config table markers"
    assert section.group(1) == doc, "README.md's table differs from `gwsync config doc`; paste its output"


def test_keys_create_rejects_bad_role(db):
    p = gw(["keys", "create", "--tenant", "x", "--role", "root"], h.base_env(db))
    assert p.returncode == 64 and "--role" in p.stderr
