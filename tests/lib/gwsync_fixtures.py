"""The pytest fixtures every black-box suite shares: a migrated template database, a copy of it per
test, an API process on it, an operator key. Suites import them in their conftest.py."""
import pytest

import gwsync_harness as h


@pytest.fixture(scope="session")
def template_db():
    """A database migrated once; each test copies it (CREATE DATABASE ... TEMPLATE)."""
    name = h.create_database()
    h.migrate(name)
    yield name
    h.drop_database(name)


@pytest.fixture
def db(template_db):
    name = h.create_database(template=template_db)
    yield name
    h.drop_database(name)


@pytest.fixture
def api(db):
    server = h.Api(db)
    yield server
    if server.process.proc.poll() is None:
        status, _ = server.stop()
        h.assert_clean_exit(status, server.process)


@pytest.fixture
def operator_key(db):
    return h.create_key(db, "acme", "operator")
