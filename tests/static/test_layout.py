"""Module boundaries (README.md "Layout" and the module READMEs): each third-party header in one
place, SQL only in db/."""
import os
import re

ROOT = os.environ.get("GWSYNC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))

# header prefix -> path prefixes allowed to include it
ALLOWED = {
    "libpq-fe.h": ("db/",),
    "librdkafka/": ("service/bus/",),
    "curl/": ("service/httpc/", "tests/"),
    "civetweb.h": ("api/http.c", "tests/emulator/"),
    "openssl/": ("service/crypto/", "service/auth/jwt.c", "tests/"),
    # service/sync: the planners compare and rebuild Google's JSON resources field by field.
    # service/core/json_put: the one "add a member without leaking" helper all of those share.
    "json-c/": ("api/", "service/google/", "service/auth/", "service/bus/", "service/sync/",
                "service/core/json_put.", "tests/"),
}
SQL = re.compile(r'"\s*(SELECT\s|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)', re.I)


def c_files():
    for top in ("service", "api", "db", "tests"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            for name in names:
                if name.endswith((".c", ".h")):
                    path = os.path.join(dirpath, name)
                    yield os.path.relpath(path, ROOT), open(path, encoding="utf-8").read()


def test_third_party_headers_stay_in_their_module():
    offenders = []
    for rel, text in c_files():
        for inc in re.findall(r'#include\s*[<"]([^>"]+)[>"]', text):
            for header, allowed in ALLOWED.items():
                if inc.startswith(header) and not rel.startswith(allowed):
                    offenders.append(f"{rel}: {inc}")
    assert not offenders, offenders


def test_sql_only_in_db():
    offenders = [rel for rel, text in c_files()
                 if rel.startswith(("service/", "api/")) and SQL.search(text)]
    assert not offenders, offenders


def test_every_module_directory_has_a_readme():
    for d in ("service/core", "service/crypto", "service/bus", "api", "db"):
        assert os.path.isfile(os.path.join(ROOT, d, "README.md")), d
