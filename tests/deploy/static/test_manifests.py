"""deploy/: the Dockerfile passes hadolint; every kustomize overlay renders; every rendered object is
valid for Kubernetes (kubernetes-validate, strict) or for its CRD (ScaledObject, ServiceMonitor,
PrometheusRule: schemas in deploy/k8s/crd-schemas); env vars and probes match what gwsync has
(`gwsync config doc`, `gwsync routes`); pods are locked down; alert rules pass promtool's check and
unit tests. Needs no peer. Whether the dashboard and the alerts name metrics gwsync really serves is
checked against a running api in tests/deploy/image.
"""
import glob
import json
import os
import re
import shutil
import subprocess

import jsonschema
import pytest
import yaml

SOURCE_DIR = os.environ.get("GWSYNC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
K8S = os.path.join(SOURCE_DIR, "deploy", "k8s")
OVERLAYS = ["dev", "prod", "keda"]
K8S_VERSION = "1.37.0"
GWSYNC_BIN = os.environ.get("GWSYNC_BIN", "build/gwsync")
PYTOOLS = os.environ.get("GWSYNC_PYTOOLS", "")
TOOLS = os.environ.get("GWSYNC_TOOLS_DIR", "")
CUSTOM_KINDS = {"ScaledObject", "ServiceMonitor", "PrometheusRule"}


def tool(path, what):
    assert path and os.access(path, os.X_OK), f"{what} missing at {path!r}: run deploy/local/deps"
    return path


def kustomize():
    return tool(os.path.join(TOOLS, "kustomize"), "kustomize")


@pytest.fixture(scope="module")
def rendered():
    out = {}
    for overlay in OVERLAYS:
        p = subprocess.run([kustomize(), "build", os.path.join(K8S, "overlays", overlay)],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"kustomize build {overlay}: {p.stderr}"
        out[overlay] = [d for d in yaml.safe_load_all(p.stdout) if d]
        assert out[overlay], overlay
    return out


@pytest.fixture(scope="module")
def config_table():
    """{name: (default, roles, meaning)} from `gwsync config doc`."""
    p = subprocess.run([GWSYNC_BIN, "config", "doc"], capture_output=True, text=True, check=True, timeout=30)
    table = {}
    for line in p.stdout.splitlines():
        m = re.match(r"\| `([A-Z0-9_<>]+)` \| ([^|]*) \| ([^|]*) \| (.*) \|$", line)
        if m:
            roles = {r.strip() for r in m.group(3).split(",") if r.strip()}
            table[m.group(1)] = (m.group(2).strip(), roles, m.group(4))
    assert "GWSYNC_DATABASE_URL" in table and len(table) > 30, p.stdout[:500]
    return table


@pytest.fixture(scope="module")
def routes():
    p = subprocess.run([GWSYNC_BIN, "routes"], capture_output=True, text=True, check=True, timeout=30)
    return {tuple(line.split(None, 1)) for line in p.stdout.splitlines() if line.strip()}


def pod_specs(docs):
    """(object, pod spec) of every workload."""
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            yield d, d["spec"]["template"]["spec"]


def by(docs, kind, name):
    hits = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, (kind, name, [(d["kind"], d["metadata"]["name"]) for d in docs])
    return hits[0]


def test_each_overlay_sets_its_own_image_and_edits_reach_it(rendered, tmp_path):
    """The base must not rewrite the image name: an overlay's images: entry (and `kustomize edit
    set image gwsync=...`, the README's release step) then never matches."""
    want = {"dev": "localhost/gwsync:0.1.0", "prod": "registry.example.invalid/gwsync:0.1.0",
            "keda": "registry.example.invalid/gwsync:0.1.0"}
    for overlay, image in want.items():
        images = {c["image"] for _, spec in pod_specs(rendered[overlay]) for c in spec["containers"]
                  if "gws-emulator" not in c["image"]}
        assert images == {image}, (overlay, images)
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    prod = copy / "overlays" / "prod"
    subprocess.run([kustomize(), "edit", "set", "image", "gwsync=registry.test/gwsync:9.9.9"], cwd=prod,
                   check=True, capture_output=True, timeout=60)
    out = subprocess.run([kustomize(), "build", str(prod)], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    images = {c["image"] for d in yaml.safe_load_all(out) if d and d["kind"] in ("Deployment", "Job")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.test/gwsync:9.9.9"}, images


def test_the_migrate_phase_holds_everything_its_job_needs(rendered):
    """`kubectl apply -l gwsync.io/phase=migrate` on a fresh namespace must create the Job's
    ServiceAccount and ConfigMaps too, or its pods are never created."""
    for overlay, docs in rendered.items():
        phase = [d for d in docs if d["metadata"].get("labels", {}).get("gwsync.io/phase") == "migrate"]
        names = {(d["kind"], d["metadata"]["name"]) for d in phase}
        jobs = [d for d in phase if d["kind"] == "Job"]
        assert jobs, overlay
        for job in jobs:
            spec = job["spec"]["template"]["spec"]
            sa = spec.get("serviceAccountName")
            if sa:
                assert ("ServiceAccount", sa) in names, (overlay, sa, names)
            for c in spec["containers"]:
                for ef in c.get("envFrom", []):
                    if "configMapRef" in ef:
                        assert ("ConfigMap", ef["configMapRef"]["name"]) in names, (overlay, ef, names)


def test_hadolint_passes_on_the_dockerfile():
    hadolint = tool(os.path.join(PYTOOLS, "bin", "hadolint"), "hadolint")
    p = subprocess.run([hadolint, os.path.join(SOURCE_DIR, "deploy", "docker", "Dockerfile")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


def test_dockerfile_packages_come_from_the_local_deps_list():
    """The build stage installs -dev packages that deploy/local/deps installs too (one list to keep)."""
    deps = open(os.path.join(SOURCE_DIR, "deploy", "local", "deps")).read()
    dockerfile = open(os.path.join(SOURCE_DIR, "deploy", "docker", "Dockerfile")).read()
    dev = set(re.findall(r"\b(lib[a-z0-9.+-]*-dev)\b", dockerfile)) - {"libc6-dev"}  # build-essential
    assert dev and dev <= set(re.findall(r"\b(lib[a-z0-9.+-]*-dev)\b", deps)), dev
    assert "USER 10001:10001" in dockerfile and 'ENTRYPOINT ["gwsync"]' in dockerfile


def test_every_overlay_renders_namespaced(rendered):
    for overlay, docs in rendered.items():
        kinds = {d["kind"] for d in docs}
        assert {"Deployment", "Job", "Service", "ConfigMap", "PodDisruptionBudget",
                "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule"} <= kinds, overlay
        for d in docs:
            assert d["metadata"].get("namespace"), (overlay, d["kind"], d["metadata"]["name"])
    assert any(d["kind"] == "ScaledObject" for d in rendered["keda"])
    assert any(d["kind"] == "Deployment" and d["metadata"]["name"] == "gws-emulator" for d in rendered["dev"])


def test_builtin_objects_validate_against_kubernetes_schemas(rendered, tmp_path):
    validate = tool(os.path.join(PYTOOLS, "bin", "kubernetes-validate"), "kubernetes-validate")
    files = []
    for overlay, docs in rendered.items():
        for i, d in enumerate(docs):
            if d["kind"] in CUSTOM_KINDS:
                continue
            f = tmp_path / f"{overlay}-{i:02d}-{d['kind']}.yaml"
            f.write_text(yaml.safe_dump(d))
            files.append(str(f))
    p = subprocess.run([validate, "--strict", "-k", K8S_VERSION, *files], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    assert p.stdout.count(" passed for resource ") == len(files), p.stdout[-3000:]
    # and it does refuse a misspelt field
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
           "spec": {"ports": [{"port": 80, "targetPrt": 8080}]}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    p = subprocess.run([validate, "--strict", "-k", K8S_VERSION, str(tmp_path / "bad.yaml")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0, p.stdout


def strict(schema):
    """Like the API server's strict field validation: unknown fields are errors, unless the schema
    says they are allowed."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        if out.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_schemas():
    out = {}
    for f in glob.glob(os.path.join(K8S, "crd-schemas", "*.json")):
        s = json.load(open(f))
        out[(s["apiVersion"], s["kind"])] = strict(s["schema"])
    return out


def test_custom_resources_validate_against_their_crds(rendered):
    schemas = crd_schemas()
    assert {k for _, k in schemas} == CUSTOM_KINDS
    seen = set()
    for overlay, docs in rendered.items():
        for d in docs:
            if d["kind"] not in CUSTOM_KINDS:
                continue
            key = (d["apiVersion"], d["kind"])
            assert key in schemas, f"{overlay}: no CRD schema for {key} in deploy/k8s/crd-schemas"
            body = {k: v for k, v in d.items() if k not in ("apiVersion", "kind", "metadata")}
            jsonschema.Draft7Validator(schemas[key]).validate(body)
            seen.add(d["kind"])
    assert seen == CUSTOM_KINDS


def test_the_crd_check_catches_a_wrong_field():
    schemas = crd_schemas()
    bad = {"spec": {"selector": {}, "endpoints": [{"port": "http", "pth": "/metrics"}]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schemas[("monitoring.coreos.com/v1", "ServiceMonitor")]).validate(bad)


def env_of(container, docs):
    """Names and values a container gets: env, plus every key of its envFrom ConfigMaps."""
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    for src in container.get("envFrom", []):
        cm = by(docs, "ConfigMap", src["configMapRef"]["name"])
        env.update(cm["data"])
    return env


def known(name, table):
    if name in table or name.startswith("GWSYNC_KAFKA_X_"):
        return True
    base = name[:-len("_FILE")] if name.endswith("_FILE") else None
    return bool(base and base in table and f"{base}_FILE" in table[base][2])


def test_env_vars_exist_and_required_ones_are_set(rendered, config_table):
    roles_seen = set()
    for overlay, docs in rendered.items():
        for obj, spec in pod_specs(docs):
            for c in spec["containers"]:
                if c["image"].split("/")[-1].startswith("gws-emulator"):
                    continue
                role = c["args"][0]
                roles_seen.add(role)
                env = env_of(c, docs)
                for name in env:
                    assert name.startswith("GWSYNC_"), (overlay, obj["metadata"]["name"], name)
                    assert known(name, config_table), f"{overlay}: {name} is not a gwsync setting"
                for name, (default, roles, _) in config_table.items():
                    if default == "required" and role in roles:
                        assert name in env or f"{name}_FILE" in env, \
                            f"{overlay}: {obj['metadata']['name']} ({role}) lacks {name}"
                # Secrets only as files from a mounted Secret, never as values.
                for name, value in env.items():
                    base = name[:-len("_FILE")] if name.endswith("_FILE") else name
                    if base in ("GWSYNC_DATABASE_URL", "GWSYNC_SECRET_KEY", "GWSYNC_SECRET_KEYS_PREVIOUS",
                                "GWSYNC_GOOGLE_OAUTH_CLIENT_SECRET"):
                        assert name.endswith("_FILE"), f"{overlay}: {name} given as a value"
                        mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
                        assert any(value.startswith(m + "/") for m in mounts), (name, value, mounts)
    assert roles_seen == {"api", "worker", "migrate"}


def test_probes_point_at_routes_and_ports_that_exist(rendered, routes):
    """Both roles: probes and the scrape go to the health listener (GWSYNC_HEALTH_LISTEN), whose
    port is the container's "health" port; the API port takes the clients."""
    for overlay, docs in rendered.items():
        for role in ("api", "worker"):
            dep = by(docs, "Deployment", f"gwsync-{role}")
            c = dep["spec"]["template"]["spec"]["containers"][0]
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            listen = env_of(c, docs)["GWSYNC_HEALTH_LISTEN"]
            assert int(listen.rsplit(":", 1)[1]) == ports["health"], (overlay, role, listen, ports)
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                get = c[probe]["httpGet"]
                assert ("GET", get["path"]) in routes, (overlay, role, probe, get)
                assert get["port"] == "health", (overlay, role, probe, get)
            assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
            svc = by(docs, "Service", f"gwsync-{role}")
            assert {p["targetPort"] for p in svc["spec"]["ports"]} <= set(ports), (overlay, role)
            sm = by(docs, "ServiceMonitor", f"gwsync-{role}")
            assert sm["spec"]["selector"]["matchLabels"].items() <= svc["spec"]["selector"].items()
            for ep in sm["spec"]["endpoints"]:
                assert ("GET", ep["path"]) in routes and ep["port"] == "health", (overlay, role, ep)
                assert ep["port"] in {p["name"] for p in svc["spec"]["ports"]}
        ing = by(docs, "Ingress", "gwsync-oauth-callback")
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert ("GET", path["path"]) in routes and path["pathType"] == "Exact"


def test_monitoring_reaches_only_the_health_port(rendered):
    for overlay, docs in rendered.items():
        for role in ("api", "worker"):
            rules = by(docs, "NetworkPolicy", f"gwsync-{role}-ingress")["spec"].get("ingress", [])
            monitoring = [r for r in rules for peer in r["from"]
                          if peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"]
            assert monitoring and all({p["port"] for p in r["ports"]} == {"health"} for r in monitoring), \
                (overlay, role, rules)


def test_pods_are_locked_down_and_stop_in_time(rendered):
    for overlay, docs in rendered.items():
        cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("gwsync-config"))
        shutdown_s = int(cm["data"]["GWSYNC_SHUTDOWN_TIMEOUT_S"])
        for obj, spec in pod_specs(docs):
            where = (overlay, obj["metadata"]["name"])
            psc = spec["securityContext"]
            assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 10001, where
            assert psc["seccompProfile"]["type"] == "RuntimeDefault", where
            assert spec.get("automountServiceAccountToken") is False, where
            for c in spec["containers"]:
                sc = c["securityContext"]
                assert sc["readOnlyRootFilesystem"] is True, where
                assert sc["allowPrivilegeEscalation"] is False, where
                assert sc["capabilities"]["drop"] == ["ALL"], where
                assert "add" not in sc["capabilities"], where
                assert c["resources"]["requests"] and c["resources"]["limits"]["memory"], where
            if obj["kind"] == "Deployment" and obj["metadata"]["name"].startswith("gwsync-"):
                assert spec["terminationGracePeriodSeconds"] > shutdown_s, where
        api = by(docs, "Deployment", "gwsync-api")
        assert api["spec"]["replicas"] >= 2 and api["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert by(docs, "HorizontalPodAutoscaler", "gwsync-api")["spec"]["minReplicas"] >= 2
        # The migrate Job and its ConfigMap can be applied alone, before the rollout.
        phase = {(d["kind"]) for d in docs if d["metadata"].get("labels", {}).get("gwsync.io/phase") == "migrate"}
        assert phase == {"Job", "ConfigMap", "ServiceAccount"}, (overlay, phase)
        assert by(docs, "Job", "gwsync-migrate")["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_network_policies_cover_ingress_and_egress(rendered):
    for overlay, docs in rendered.items():
        pols = [d for d in docs if d["kind"] == "NetworkPolicy"]
        api_in = by(docs, "NetworkPolicy", "gwsync-api-ingress")["spec"]["ingress"]
        sources = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                   for rule in api_in for peer in rule["from"]}
        assert sources == {"platform", "ingress-nginx", "monitoring"}, overlay
        egress_ports = {p["port"] for d in pols for r in d["spec"].get("egress", []) for p in r.get("ports", [])}
        assert {53, 5432, 9092, 443} <= egress_ports, (overlay, egress_ports)


def test_configmap_sets_only_known_settings_with_valid_defaults(config_table):
    env_file = os.path.join(K8S, "base", "config.env")
    for line in open(env_file):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        assert name in config_table, name
        assert value != "", name


def test_configmap_names_every_setting_that_is_not_a_secret(config_table):
    """config.env holds every GWSYNC_* setting (or names it in its comments: unset by default,
    test only); secrets come as *_FILE mounts."""
    text = open(os.path.join(K8S, "base", "config.env")).read()
    secret = re.compile(r"(SECRET|PASSWORD|_KEYS?$|_KEYS_PREVIOUS$|DATABASE_URL$)")
    missing = [n for n in config_table if not secret.search(n) and n not in text]
    assert missing == [], missing


def promtool():
    return tool(shutil.which("promtool") or "", "promtool (Debian package prometheus)")


def test_alert_rules_check_and_unit_tests(tmp_path):
    rule = yaml.safe_load(open(os.path.join(K8S, "base", "prometheusrule.yaml")))
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    shutil.copy(os.path.join(os.path.dirname(__file__), "alerts_test.yaml"), tmp_path / "alerts_test.yaml")
    p = subprocess.run([promtool(), "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([promtool(), "test", "rules", "alerts_test.yaml"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    tested = set(re.findall(r"alertname: (\w+)", open(tmp_path / "alerts_test.yaml").read()))
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == tested, f"alerts without a promtool unit test: {alerts - tested}"


def test_dashboard_is_grafana_json_with_queries():
    dash = json.load(open(os.path.join(K8S, "base", "dashboard", "gwsync.json")))
    assert dash["uid"] == "gwsync" and dash["panels"]
    for panel in dash["panels"]:
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
