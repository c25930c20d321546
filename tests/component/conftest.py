import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))

import gwsync_harness as h  # noqa: E402


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
