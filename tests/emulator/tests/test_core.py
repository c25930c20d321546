"""Process behaviour: first stdout line, --help, signals, unknown routes, discovery conformance."""
import json
import re
import signal
import subprocess

from conftest import BIN, DIR, Emulator, google_fixtures


def test_help_lists_every_flag():
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    for flag in ("--listen", "--state", "--domain", "--sa-key", "--threads", "--verbose", "--help", "keygen"):
        assert flag in r.stdout


def test_bad_flag_exits_2():
    r = subprocess.run([BIN, "--nope"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2


def test_start_and_sigint(tmp_path):
    e = Emulator("--domain", "corp.test")
    assert re.match(r"^http://127\.0\.0\.1:\d+$", e.url)
    info = e.ctl("GET", "info")
    assert info["domain"] == "corp.test" and info["adminEmail"] == "admin@corp.test"
    assert re.match(r"^C0[a-z0-9]{7}$", info["customerId"])
    e.proc.send_signal(signal.SIGINT)
    rc, err = e.stop()
    assert rc == 0, err


def test_unknown_route_is_html_404(emu):
    r = emu.call("GET", f"{DIR}/nothing")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    r = emu.call("DELETE", f"{DIR}/customers/my_customer")
    assert r.status_code == 404


def _discovery_paths():
    out = set()
    for name, prefix in (("admin.directory_v1.json", ""), ("groupssettings.v1.json", "groups/v1/groups/")):
        doc = json.loads((google_fixtures() / name).read_text())

        def walk(res):
            for m in res.get("methods", {}).values():
                out.add((m["httpMethod"], prefix + m.get("flatPath", m["path"]), m["id"]))
            for sub in res.get("resources", {}).values():
                walk(sub)
        walk(doc)
    return out


def test_every_route_exists_in_discovery(emu):
    disc = _discovery_paths()
    norm = lambda p: re.sub(r"\{[^}]+\}", "{}", p)
    by_key = {(m, norm(p)): i for m, p, i in disc}
    routes = emu.ctl("GET", "routes")["routes"]
    assert len(routes) >= 33
    for r in routes:
        key = (r["method"], norm(r["path"]))
        assert key in by_key, r
        assert by_key[key].split(".")[-2:] == r["name"].split(".")[-2:], (r, by_key[key])


def test_content_type_and_no_content(emu):
    r = emu.call("GET", f"{DIR}/users/admin@example.com")
    assert r.headers["Content-Type"] == "application/json; charset=UTF-8"
