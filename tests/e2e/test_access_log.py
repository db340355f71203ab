"""The access log says who did what (issue 20 #5): the client's address (after trusted
proxies), the account or the name someone tried on a refusal, and the files a write
stored, removed or yanked; every field a client chose escaped, one request per line."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import net
from support.accounts import add_account
from support.clients import twine_upload
from support.fakedist import make_wheel
from support.server import DynoServer, ServerFactory

ALICE = ("alice", "alice-log-pw")
BOB = ("bob", "bob-reads-only")


@pytest.fixture(scope="module")
def logged(
    module_server_factory: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> DynoServer:
    """A server with accounts that trusts X-Forwarded-For from 127.0.0.1 only."""
    work = tmp_path_factory.mktemp("access-log")
    (pkg := work / "packages").mkdir()
    add_account(work / "htpasswd", *ALICE)
    add_account(work / "htpasswd", *BOB)
    (work / "htpasswd.rights").write_text("alice list,download,update *\nbob list,download\n")
    return module_server_factory(
        pkg, "-P", str(work / "htpasswd"), "--trusted-proxies", "127.0.0.1/32"
    )


def lines_after(server: DynoServer, mark: int) -> list[str]:
    return [
        ln for ln in server.stderr_path.read_text()[mark:].splitlines() if "dynopypi.access" in ln
    ]


def test_a_proxied_read_logs_the_forwarded_address(logged: DynoServer) -> None:
    mark = len(logged.stderr_path.read_text())
    logged.get("/simple/", headers={"X-Forwarded-For": "203.0.113.9"})  # from 127.0.0.1: trusted
    source = net.fresh_address()  # not a trusted proxy: its header is ignored
    net.request_from(source, "GET", logged.url("/simple/"), headers={"X-Forwarded-For": "6.6.6.6"})
    trusted, untrusted = lines_after(logged, mark)
    assert trusted.split("dynopypi.access: ")[1].startswith("203.0.113.9 GET /simple/ 200 "), (
        trusted
    )
    assert untrusted.split("dynopypi.access: ")[1].startswith(f"{source} GET /simple/ 200 "), (
        untrusted
    )
    assert trusted.endswith(" -") and "6.6.6.6" not in untrusted


def test_upload_and_removal_log_the_account_and_the_files(
    logged: DynoServer, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "logged-pkg", "1.0")
    mark = len(logged.stderr_path.read_text())
    result = twine_upload(logged.index_url.replace("/simple/", "/"), ALICE, [wheel])
    assert result.returncode == 0, result.stdout + result.stderr
    removed = logged.request(
        "POST", "/", data={":action": "remove_pkg", "name": "logged-pkg", "version": "1.0"},
        auth=ALICE,
    )  # fmt: skip
    assert removed.status_code == 200, logged.explain(removed)
    posts = [ln for ln in lines_after(logged, mark) if " POST / " in ln]
    assert posts[-2].endswith(f" alice upload={wheel.name}"), posts
    assert posts[-1].endswith(f" alice remove_pkg={wheel.name}"), posts


def test_a_refused_login_logs_the_name_tried_escaped(logged: DynoServer, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "guessed", "1.0")
    mark = len(logged.stderr_path.read_text())
    source = net.fresh_address()
    for user in ("root", "mal lory\n"):
        refused = net.request_from(
            source,
            "POST",
            logged.url("/"),
            auth=(user, "guess"),
            files={"content": (wheel.name, wheel.read_bytes())},
        )
        assert refused.status_code == 401
    first, second = lines_after(logged, mark)
    assert f"{source} POST / 401 " in first and first.endswith(" tried:root"), first
    assert second.endswith(" tried:mal\\x20lory\\x0a"), second  # one field, one line
    assert "guess" not in logged.stderr_path.read_text()[mark:]  # never the password


def test_a_proven_account_without_the_right_is_named(logged: DynoServer, tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "not-bobs", "1.0")
    mark = len(logged.stderr_path.read_text())
    denied = logged.request("POST", "/", auth=BOB, files={"content": (wheel.name, b"x")})
    assert denied.status_code == 403
    (line,) = lines_after(logged, mark)
    assert " POST / 403 " in line and line.endswith(" bob"), line
