"""Batch endpoints: multipart/mixed, Content-ID echo, per-part errors, limits, quota per part."""
import json

import pytest

from conftest import DIR


def build(parts, boundary="batch_xyz"):
    out = []
    for i, (method, path, body) in enumerate(parts):
        out.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{i}:12930812@sync>\r\n\r\n"
                   f"{method} {path} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
                   f"{json.dumps(body) if body is not None else ''}\r\n")
    out.append(f"--{boundary}--\r\n")
    return "".join(out)


def parse(r):
    ctype = r.headers["Content-Type"]
    assert ctype.startswith("multipart/mixed; boundary=")
    b = ctype.split("boundary=")[1]
    res = {}
    for chunk in r.text.split("--" + b)[1:-1]:
        head, _, inner = chunk.strip("\r\n").partition("\r\n\r\n")
        cid = [h.split(": ", 1)[1] for h in head.split("\r\n") if h.startswith("Content-ID")][0]
        status_line, _, rest = inner.partition("\r\n")
        _, _, body = rest.partition("\r\n\r\n")
        res[cid] = (int(status_line.split()[1]), body.strip())
    return res


@pytest.mark.parametrize("endpoint", ["/batch", "/batch/admin/directory_v1", "/batch/admin/directory/v1"])
def test_batch_mixed(emu, endpoint):
    emu.new_user("b1@example.com")
    body = build([
        ("PUT", f"{DIR}/users/b1@example.com", {"suspended": True}),
        ("GET", f"https://admin.googleapis.com{DIR}/users/missing@example.com", None),
        ("POST", f"{DIR}/users", {"primaryEmail": "b2@example.com", "name": {"givenName": "B", "familyName": "C"},
                                   "password": "12345678"}),
        ("DELETE", f"{DIR}/users/b1@example.com", None),
    ])
    r = emu.call("POST", endpoint, raw=body, headers={"Content-Type": "multipart/mixed; boundary=batch_xyz"})
    assert r.status_code == 200, r.text
    res = parse(r)
    assert set(res) == {f"<response-item{i}:12930812@sync>" for i in range(4)}
    assert res["<response-item0:12930812@sync>"][0] == 200
    assert json.loads(res["<response-item0:12930812@sync>"][1])["suspended"] is True
    st, b = res["<response-item1:12930812@sync>"]
    assert st == 404 and json.loads(b)["error"]["errors"][0]["reason"] == "notFound"
    assert res["<response-item2:12930812@sync>"][0] == 200
    assert res["<response-item3:12930812@sync>"] == (204, "")
    log = emu.ctl("GET", "requests")["requests"]
    assert sum(1 for e in log if e["batchPart"]) == 4


def test_batch_limits_and_errors(emu):
    parts = [("GET", f"{DIR}/users/admin@example.com", None)] * 1001
    r = emu.call("POST", "/batch", raw=build(parts), headers={"Content-Type": "multipart/mixed; boundary=batch_xyz"})
    assert r.status_code == 400 and r.json()["error"]["code"] == 400
    parts = parts[:1000]
    r = emu.call("POST", "/batch", raw=build(parts), headers={"Content-Type": "multipart/mixed; boundary=batch_xyz"})
    assert r.status_code == 200 and len(parse(r)) == 1000
    r = emu.call("POST", "/batch", raw="{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = emu.call("POST", "/batch", raw=build(parts[:1]), token="ya29.bad",
                 headers={"Content-Type": "multipart/mixed; boundary=batch_xyz"})
    assert r.status_code == 401 and r.headers["Content-Type"].startswith("application/json")


def test_batch_parts_count_against_quota(emu):
    emu.ctl("PUT", "quota", {"quotaPerMinute": 3})
    parts = [("GET", f"{DIR}/users/admin@example.com", None)] * 5
    r = emu.call("POST", "/batch", raw=build(parts), headers={"Content-Type": "multipart/mixed; boundary=batch_xyz"})
    statuses = sorted(s for s, _ in parse(r).values())
    assert statuses == [200, 200, 200, 403, 403]
    bodies = [json.loads(b) for s, b in parse(r).values() if s == 403]
    assert bodies[0]["error"]["errors"][0]["reason"] == "userRateLimitExceeded"
