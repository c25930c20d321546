"""openapi.yaml is the contract: it and the router list the same routes, and answers fit it."""
import os
import re
import subprocess

import yaml

import gwsync_harness as h

METHODS = {"get", "put", "post", "patch", "delete"}


def spec():
    with open(os.path.join(h.SOURCE_DIR, "openapi.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_router_and_openapi_list_the_same_routes():
    out = subprocess.run([h.GWSYNC_BIN, "routes"], capture_output=True, text=True, check=True).stdout
    routed = {tuple(line.split(" ", 1)) for line in out.splitlines()}
    documented = {(m.upper(), path) for path, ops in spec()["paths"].items() for m in ops if m in METHODS}
    assert routed - documented == set(), "routes missing from openapi.yaml"
    assert documented - routed == set(), "openapi.yaml documents routes the server lacks"


def if_match_error(r):
    """The /header/If-Match error of a 400 answer, or None when r is no such answer."""
    if r.status_code != 400:
        return None
    errors = h.assert_problem(r, 400, "validation").get("errors", [])
    return next((e for e in errors if e["pointer"] == "/header/If-Match"), None)


def test_if_match_is_checked_on_every_route(api, operator_key):
    """A malformed If-Match is a 400 on every route (an approval or a verification once went ahead
    despite it); a well-formed one is taken exactly where openapi.yaml lists it, and refused
    elsewhere rather than ignored. The operator key passes every role check."""
    ids = {"user_id": "u1", "group_id": "g1", "domain": "example.com"}
    some_uuid = "00000000-0000-4000-8000-000000000000"
    taking = set()
    for path, ops in spec()["paths"].items():
        for method, op in ops.items():
            if method not in METHODS:
                continue
            url = re.sub(r"\{(\w+)\}", lambda g: ids.get(g.group(1), some_uuid), path)
            params = op.get("parameters", []) + ops.get("parameters", [])
            takes = any(p.get("$ref", "").endswith("/ifMatch") for p in params)
            r = api.request(method.upper(), url, operator_key, headers={"If-Match": "bogus"})
            assert if_match_error(r), (method, path, r.status_code, r.text)
            r = api.request(method.upper(), url, operator_key, headers={"If-Match": '"1"'})
            assert (if_match_error(r) is None) == takes, (method, path, r.status_code, r.text)
            if takes:
                taking.add((method.upper(), path))
    assert ("POST", "/v1/integrations/{integration_id}/deactivate") in taking
    assert ("POST", "/v1/jobs/{job_id}/approve") not in taking


def test_every_problem_slug_is_documented():
    described = spec()["info"]["description"]
    slugs = set(re.findall(r"\| `([a-z-]+)` \| \d{3} \|", described))
    sources = ""
    for sub in ("api",):
        for name in os.listdir(os.path.join(h.SOURCE_DIR, sub)):
            if name.endswith(".c"):
                sources += open(os.path.join(h.SOURCE_DIR, sub, name), encoding="utf-8").read()
    used = set(re.findall(r'\d{3}, "([a-z-]+)", "', sources))
    used |= set(re.findall(r'problem_set\(&p, \d{3}, "([a-z-]+)"', sources))
    assert used and used <= slugs, used - slugs


def test_answers_have_documented_fields(api, operator_key):
    schemas = spec()["components"]["schemas"]
    t = api.post("/v1/tenants", key=operator_key, json={"name": "Contract"}).json()
    assert set(t) == set(schemas["Tenant"]["properties"])
    keys = api.get("/v1/api-keys", key=operator_key).json()["items"]
    assert all(set(k) == set(schemas["ApiKey"]["properties"]) for k in keys)
    problem = api.get("/v1/tenants/nope", key=operator_key).json()
    assert set(problem) <= set(schemas["Problem"]["properties"])
    assert set(schemas["Problem"]["required"]) <= set(problem)


def test_openapi_document_is_valid():
    tools = h.need_env("GWSYNC_PYTOOLS")
    proc = subprocess.run([os.path.join(tools, "bin", "openapi-spec-validator"),
                           os.path.join(h.SOURCE_DIR, "openapi.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout
