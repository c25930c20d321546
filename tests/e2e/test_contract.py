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
