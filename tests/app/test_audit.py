"""Every write kind over HTTP makes exactly one audit record, with the right actor,
address and outcome; refused writes are recorded with their reason."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import requests
from support.accounts import write_fast_accounts
from support.fakedist import make_sdist, make_wheel
from support.helpers import poll_until
from support.inproc import AppFactory, AppServer
from support.uploads import MULTIPART, file_upload_fields, form_body

ALICE = ("alice", "alice-secret-1")
BOB = ("bob", "bob-secret-1")


def post(
    server: AppServer, fields: dict[str, str], auth: tuple[str, str], file: Any = None
) -> requests.Response:
    body = form_body(fields, file) if file else form_body(fields)
    return server.request("POST", "/", data=body, headers={"Content-Type": MULTIPART}, auth=auth)


def upload(server: AppServer, path: Path, auth: tuple[str, str] = ALICE) -> requests.Response:
    data = path.read_bytes()
    return post(server, file_upload_fields(path.name, data), auth, (path.name, data))


def records(pkg: Path) -> list[dict[str, Any]]:
    folder = pkg / ".dynopypi" / "audit"
    return [json.loads(p.read_bytes()) for p in sorted(folder.glob("0*.json"))]


def test_each_write_makes_one_record_with_its_actor(
    server_factory: AppFactory, tmp_path: Path
) -> None:
    pkg, build = tmp_path / "pkgs", tmp_path / "build"
    for folder in (pkg, build / "a", build / "b"):
        folder.mkdir(parents=True)
    htpasswd = write_fast_accounts(tmp_path / "htpasswd", dict([ALICE, BOB]))
    (tmp_path / "htpasswd.rights").write_text(
        "alice list,download,update *\nbob list,download,update other-*\n"
    )
    srv = server_factory(pkg, "-P", str(htpasswd), "-o")
    wheel = make_wheel(build / "a", "acme", "1.0")
    sdist = make_sdist(build / "a", "acme", "1.0")
    other = make_wheel(build / "b", "acme", "1.0", requires=["lib"])
    steps = [
        (upload(srv, wheel), "upload", "ok"),
        (upload(srv, wheel), "upload", "unchanged"),
        (upload(srv, other), "overwrite", "ok"),
        (upload(srv, sdist), "upload", "ok"),
        (upload(srv, sdist, BOB), "upload", "refused"),
        (
            post(
                srv, {":action": "yank", "name": "acme", "version": "1.0", "reason": "bad"}, ALICE
            ),
            "yank",
            "ok",
        ),
        (post(srv, {":action": "unyank", "name": "acme", "version": "1.0"}, ALICE), "unyank", "ok"),
        (
            post(srv, {":action": "remove_pkg", "name": "acme", "version": "1.0"}, BOB),
            "remove",
            "refused",
        ),
        (
            post(srv, {":action": "remove_pkg", "name": "acme", "version": "1.0"}, ALICE),
            "remove",
            "ok",
        ),
        (
            post(srv, {":action": "remove_pkg", "name": "acme", "version": "1.0"}, ALICE),
            "remove",
            "refused",
        ),
    ]
    found = records(pkg)
    assert [(r["action"], r["outcome"]) for r in found] == [(a, o) for _, a, o in steps]
    for (response, _, outcome), record in zip(steps, found, strict=True):
        assert response.ok == (outcome != "refused"), response.text
        user = BOB[0] if record["seq"] in (5, 8) else ALICE[0]
        assert record["actor"] == {"user": user, "scheme": "basic"}
        assert record["address"] == "127.0.0.1"
        assert record["project"] == "acme" and record["version"] == "1.0"
        if outcome == "refused":
            assert record["reason"] and record["reason"] in response.text
    assert found[2]["files"] == [
        {"name": other.name, "sha256": hashlib.sha256(other.read_bytes()).hexdigest()}
    ]
    assert found[5]["yank_reason"] == "bad"
    assert {f["name"] for f in found[8]["files"]} == {wheel.name, sdist.name}
    assert "bob" in found[4]["reason"]


def test_accounts_and_rights_picked_up_are_recorded(
    server_factory: AppFactory, tmp_path: Path
) -> None:
    pkg = tmp_path / "pkgs"
    pkg.mkdir()
    htpasswd = write_fast_accounts(tmp_path / "htpasswd", dict([ALICE]))
    rights = tmp_path / "htpasswd.rights"
    rights.write_text("alice list,download,update *\n")
    srv = server_factory(pkg, "-P", str(htpasswd), "-a", "list,download,update")
    assert srv.get("/simple/", auth=ALICE).ok
    assert records(pkg) == []
    write_fast_accounts(htpasswd, dict([ALICE, BOB]))
    # alice's requests make the server look (a failed login of bob's would be throttled)
    poll_until(lambda: srv.get("/simple/", auth=ALICE).ok and len(records(pkg)) == 1)
    assert srv.get("/simple/", auth=BOB).ok
    rights.write_text("alice list,download,update *\nbob list\n")
    os.utime(rights, (0, 0))  # a new mtime the reloader cannot miss
    poll_until(lambda: srv.get("/simple/", auth=ALICE).ok and len(records(pkg)) == 2)
    assert srv.get(f"/packages/{'x' * 3}.whl", auth=BOB).status_code == 403  # list only
    found = [(r["action"], r["actor"], r["file"]) for r in records(pkg)]
    assert found == [
        ("accounts-reloaded", {"via": "server"}, str(htpasswd)),
        ("rights-reloaded", {"via": "server"}, str(rights)),
    ]
